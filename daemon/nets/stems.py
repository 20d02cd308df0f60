"""The fast network's stems by name (torch-free, so the CLI offers them without loading torch).

conv: a normalised 5x5 convolution at full size, then a 3x3 stride-2 one (the original network);
patch: a 7x7 stride-2 convolution straight to half size, then a 3x3 one (faster on a CPU).
"""

STEMS = ("conv", "patch")
