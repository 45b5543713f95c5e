"""A prototype relay engine: a site-local MediaMTX pulls each camera (`source:`) and pushes
it to the target (`forward:`), driven by ucvd through its Control API, instead of one FFmpeg
per camera. Measured beside the default engine in docs/engines.md, which says what it
keeps of ucvd's promises and what it cannot; it is not adopted, so nothing in the daemon
builds it: only the benchmark (tests/bench/engines.py) and its integration test do, through
`Publications(engine=...)`.
"""
