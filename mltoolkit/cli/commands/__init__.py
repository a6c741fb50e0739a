"""One module per CLI command, loaded only when that command runs."""
