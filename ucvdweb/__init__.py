"""ucvd-web: ucvd's HTTP face, a client of the daemon's control socket (like ucvctl)."""
