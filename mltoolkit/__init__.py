"""mltoolkit: secure ML delivery with signed evidence at every step."""

__version__ = "0.1.0"
