"""hwai.codegen."""
