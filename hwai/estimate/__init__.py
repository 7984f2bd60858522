"""hwai.estimate."""
