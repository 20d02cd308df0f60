"""The networks: the fast multi-style network (and its exact ONNX form), VGG19, the ×2 upscaler."""
