"""ucvctl: the operator's thin client for the ucvd daemon."""

import sys

# msgspec imports typing_extensions when it is installed (ucvd's other dependencies bring
# it), and typing_extensions imports inspect, ast, dis and tokenize: a fifth of what
# `ucvctl status` took to start. What msgspec takes from it (get_type_hints, Required,
# NotRequired) Python 3.11 has in typing, and msgspec uses typing's when typing_extensions
# cannot be imported. So the client loads msgspec with typing_extensions hidden, and shows
# it again at once for anything else in the process. Where msgspec or typing_extensions is
# loaded already (a test run, ucvd-web), nothing changes.
if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # import: ImportError
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]
