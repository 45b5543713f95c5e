"""Real components for tests, benchmarks and the demo: MediaMTX, camera simulators, FFmpeg.

Nothing here is a mock. See tests/conftest.py for the pytest fixtures built on it.
"""
