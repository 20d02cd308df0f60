"""The shipped fast-style models (safetensors + JSON cards), installed as `impasto_models`."""
