"""hwai.frontends."""
