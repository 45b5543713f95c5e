"""The single place the release version lives; hatch reads it at build time."""

__version__ = "0.2.0"
