"""hwai.passes."""
