"""hwai.sim."""
