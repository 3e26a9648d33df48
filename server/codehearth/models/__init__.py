"""Model manifest, model file resolution and GGUF metadata."""
