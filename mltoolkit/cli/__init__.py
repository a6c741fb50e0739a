"""The command line: parsing and rendering only; decisions live in the core packages."""
