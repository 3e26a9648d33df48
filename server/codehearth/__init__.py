"""codehearth: a private, offline code assistant served over LSP."""

__version__ = "0.1.0"
