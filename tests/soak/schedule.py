"""The chaos schedule: which fault, on which cameras, for how long. Pure and seeded, so a
run that found a violation can be replayed step for step with the same `--seed`.

Faults that hit one camera (an FFmpeg killed, a session kicked, a camera stopped or frozen)
come in steps of one to three cameras at once, each camera with its own fault; faults that
hit the whole gateway (MediaMTX restarted, ucvd SIGKILLed, the state disk full or read-only)
come alone, so that every recovery can be told apart and measured against its bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    KILL_FFMPEG = "kill_ffmpeg"
    KICK_SESSION = "kick_session"
    CAMERA_OUTAGE = "camera_outage"
    CAMERA_FREEZE = "camera_freeze"
    MEDIAMTX_RESTART = "mediamtx_restart"
    UCVD_KILL = "ucvd_kill"
    DISK_FULL = "disk_full"
    DB_READ_ONLY = "db_read_only"


CAMERA_KINDS = (Kind.KILL_FFMPEG, Kind.KICK_SESSION, Kind.CAMERA_OUTAGE, Kind.CAMERA_FREEZE)
GATEWAY_KINDS = (Kind.MEDIAMTX_RESTART, Kind.UCVD_KILL, Kind.DISK_FULL, Kind.DB_READ_ONLY)
STATE_KINDS = (Kind.DISK_FULL, Kind.DB_READ_ONLY)  # need root (a tmpfs of the soak's own)

# What ucvd must report for each camera fault (the error kind of the status change).
EXPECTED_ERROR: dict[Kind, str] = {
    Kind.KILL_FFMPEG: "process_crashed",
    Kind.KICK_SESSION: "mediamtx_closed",
    Kind.CAMERA_OUTAGE: "connection_failed",
    Kind.CAMERA_FREEZE: "stream_stalled",
    Kind.MEDIAMTX_RESTART: "mediamtx_unreachable",
}


@dataclass(frozen=True)
class Hit:
    kind: Kind
    camera: str | None  # None for a gateway fault
    hold_s: float  # how long the fault lasts before it is cleared (0: instant)


@dataclass(frozen=True)
class Step:
    number: int
    hits: tuple[Hit, ...]

    @property
    def gateway(self) -> bool:
        return any(h.camera is None for h in self.hits)


def hold_for(kind: Kind, rng: random.Random, stall_timeout_s: float) -> float:
    """A freeze must outlast the stall timeout to be a fault at all; an outage may be short
    or long against the backoff; the others are instant or last a few seconds."""
    if kind is Kind.CAMERA_FREEZE:
        return round(stall_timeout_s + rng.uniform(1.0, 4.0), 1)
    if kind is Kind.CAMERA_OUTAGE:
        return round(rng.uniform(1.0, 8.0), 1)
    if kind in (Kind.MEDIAMTX_RESTART, Kind.DISK_FULL, Kind.DB_READ_ONLY):
        return round(rng.uniform(0.5, 4.0), 1)
    return 0.0


def plan(
    seed: int,
    cameras: list[str],
    steps: int,
    *,
    kinds: tuple[Kind, ...] = CAMERA_KINDS + GATEWAY_KINDS,
    stall_timeout_s: float,
) -> list[Step]:
    """`steps` steps; every kind in `kinds` appears at least once when `steps` allows (the
    first len(kinds) steps cover them in a shuffled order), the rest are drawn at random,
    gateway faults one step in four."""
    if not cameras:
        raise ValueError("the soak needs at least one camera")
    rng = random.Random(seed)
    camera_kinds = [k for k in kinds if k in CAMERA_KINDS]
    gateway_kinds = [k for k in kinds if k in GATEWAY_KINDS]
    first = list(kinds)
    rng.shuffle(first)
    out: list[Step] = []
    for number in range(steps):
        if number < len(first):
            kind = first[number]
        elif gateway_kinds and (not camera_kinds or rng.random() < 0.25):
            kind = rng.choice(gateway_kinds)
        else:
            kind = rng.choice(camera_kinds)
        if kind in GATEWAY_KINDS:
            hits: tuple[Hit, ...] = (Hit(kind, None, hold_for(kind, rng, stall_timeout_s)),)
        else:
            count = rng.randint(1, min(3, len(cameras)))
            chosen = rng.sample(cameras, count)
            # The first camera takes the step's kind; the others draw their own.
            own = [kind] + [rng.choice(camera_kinds) for _ in chosen[1:]]
            hits = tuple(
                Hit(k, cam, hold_for(k, rng, stall_timeout_s))
                for k, cam in zip(own, chosen, strict=True)
            )
        out.append(Step(number, hits))
    return out
