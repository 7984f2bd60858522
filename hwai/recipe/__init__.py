"""hwai.recipe."""
