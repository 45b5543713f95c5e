"""Everything ucvd knows about FFmpeg, as pure functions: argv, progress, errors, version."""
