"""The `impasto` command: a client of the daemon like the editor plugins (shared/ and file I/O,
never torch); `impasto daemon` and the training commands import the daemon lazily."""
