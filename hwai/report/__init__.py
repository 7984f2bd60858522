"""hwai.report."""
