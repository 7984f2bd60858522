"""hwai.engines."""
