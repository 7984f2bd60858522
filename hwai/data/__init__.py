"""hwai.data."""
