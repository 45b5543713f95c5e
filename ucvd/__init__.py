"""ucvd: relays IP cameras' RTSP streams, untouched, to a central MediaMTX server."""

from ucvd.version import __version__

__all__ = ["__version__"]
