"""The event bus: state changes and metrics fanned out to `events.subscribe` connections.

Publishing never waits: each subscriber has a bounded outbox (the socket server's
`Connection`), and a subscriber that lets it fill is dropped. Encoding happens once per
event, not per peer. The bus knows a subscriber only by the two things it asks of one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from ucvd.api.jsonrpc import encode_notification


class Subscriber(Protocol):
    @property
    def gone(self) -> bool:
        """Closed, or dropped for not reading: the bus forgets it."""
        ...

    def push(self, message: bytes) -> bool:
        """Queue one encoded message without waiting; False if it was not taken."""
        ...


@dataclass
class _Subscription:
    conn: Subscriber
    cameras: frozenset[str] | None  # None: every camera


class EventBus:
    def __init__(self) -> None:
        self._subs: list[_Subscription] = []

    def subscribe(self, conn: Subscriber, cameras: Iterable[str] | None) -> None:
        self._subs = [s for s in self._subs if s.conn is not conn]
        self._subs.append(_Subscription(conn, None if cameras is None else frozenset(cameras)))

    @property
    def listening(self) -> bool:
        """Has anyone subscribed (and not left yet)? With nobody, events need not be made."""
        return any(not s.conn.gone for s in self._subs)

    def wants(self, camera_id: str) -> bool:
        return any(s.cameras is None or camera_id in s.cameras for s in self._subs)

    def publish(self, method: str, camera_id: str, params: msgspec.Struct) -> int:
        """Send to every interested subscriber; returns how many took it."""
        if not self._subs:
            return 0
        message: bytes | None = None
        delivered = 0
        kept: list[_Subscription] = []
        for sub in self._subs:
            if sub.conn.gone:
                continue  # gone (or dropped for not reading): forget it
            kept.append(sub)
            if sub.cameras is not None and camera_id not in sub.cameras:
                continue
            if message is None:
                message = encode_notification(method, params)
            if sub.conn.push(message):
                delivered += 1
        self._subs = kept
        return delivered
