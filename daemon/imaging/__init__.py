"""Image operations on tensors: colour, optical flow, guided upsampling and enlargement."""
