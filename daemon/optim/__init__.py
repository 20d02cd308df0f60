"""The optimisation objective gatys and hires share: the VGG losses and the tiled objective."""
