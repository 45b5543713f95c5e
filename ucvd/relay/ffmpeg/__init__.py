"""Everything ucvd knows about FFmpeg: its command line, its progress and stderr lines and
what its errors mean (pure), and finding it and running it (`version`, `process`)."""
