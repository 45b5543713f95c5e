"""ucvctl: the operator's thin client for the ucvd daemon."""
