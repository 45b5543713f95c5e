"""What the daemon declines to do, in the product's vocabulary, raised by the operations.

An operation refuses with one of these; whoever serves the operation (the control socket)
translates it, once, into its own error. Like a relay fault (`ucvd.domain.errors`), a
refusal is a stable kind, which scripts match on, plus a message written for a person.
"""

from __future__ import annotations

from enum import StrEnum

from ucvd.domain.errors import ErrorKind


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    ALREADY_PUBLISHING = "already_publishing"
    NOT_PUBLISHING = "not_publishing"
    IN_USE = "in_use"
    INVALID_ARGUMENT = "invalid_argument"
    STORAGE_ERROR = "storage_error"  # the state database refused the change
    CONFIG_ERROR = "config_error"  # the config file could not be applied
    STATE_CHANGED = "state_changed"  # a plan made against a state that is no longer
    UNAUTHORIZED = "unauthorized"  # an access token that does not exist (or was revoked)
    PERMISSION_DENIED = "permission_denied"  # a token whose kind may not do this


class Refused(Exception):
    """The operation was declined. `kind` is a Refusal, or the relay fault that stood in
    the way (a camera probe that could not connect, for instance)."""

    kind: Refusal | ErrorKind

    def __init__(self, kind: Refusal | ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _OfKind(Refused):
    """A refusal whose kind its class names."""

    KIND: Refusal

    def __init__(self, message: str) -> None:
        super().__init__(self.KIND, message)


class NotFound(_OfKind):
    KIND = Refusal.NOT_FOUND


class AlreadyExists(_OfKind):
    KIND = Refusal.ALREADY_EXISTS


class AlreadyPublishing(_OfKind):
    KIND = Refusal.ALREADY_PUBLISHING


class NotPublishing(_OfKind):
    KIND = Refusal.NOT_PUBLISHING


class InUse(_OfKind):
    KIND = Refusal.IN_USE


class Invalid(_OfKind):
    KIND = Refusal.INVALID_ARGUMENT


class NotSaved(_OfKind):
    KIND = Refusal.STORAGE_ERROR


class ConfigRefused(_OfKind):
    KIND = Refusal.CONFIG_ERROR


class StateChanged(_OfKind):
    KIND = Refusal.STATE_CHANGED


class Unauthorized(_OfKind):
    KIND = Refusal.UNAUTHORIZED


class Forbidden(_OfKind):
    KIND = Refusal.PERMISSION_DENIED
