"""bench: an open benchmark and evaluation suite for audio tokenizers."""

__version__ = "0.1.0"
