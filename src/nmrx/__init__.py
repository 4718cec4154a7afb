"""NMRX — the Numerai prediction exchange."""

__version__ = "0.1.0"
