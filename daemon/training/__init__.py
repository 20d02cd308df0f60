"""Training the fast multi-style network (`impasto train`)."""
