"""Pixels in and out: the wire's buffers as tensors (pixels), and picture and frame files (images,
frames: torch-free, so the CLI reads and writes files without loading torch)."""
