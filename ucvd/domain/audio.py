"""What happens to a camera's audio on its way to the centre, and why.

The operator chooses a policy per camera: `copy` (the default: the first audio track as the
camera sends it), `drop` (video only) or `aac` (the audio re-encoded to AAC; the video is
always copied). The transport may not carry every codec: MediaMTX takes only AAC, Opus,
MPEG-1/2 audio (MP2, MP3) and AC-3 inside the MPEG-TS that SRT carries, so a G.711 camera
relayed with `copy` over SRT would arrive without sound. There ucvd transcodes to AAC by
itself and says so (`AudioPlan.reason`). Over RTSP MediaMTX takes any codec FFmpeg can put
in RTP, so a policy is never overridden there.

Pure: the camera's codec is learnt elsewhere (FFmpeg's own description of its input).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class AudioPolicy(StrEnum):
    COPY = "copy"
    DROP = "drop"
    AAC = "aac"


# FFmpeg's codec names MediaMTX v1.20.1 reads from MPEG-TS (internal/protocols/mpegts):
# MPEG-4 Audio (ADTS or LATM), Opus, MPEG-1/2 Audio (layers 1-3), AC-3.
MPEGTS_AUDIO = frozenset({"aac", "aac_latm", "opus", "mp1", "mp2", "mp3", "ac3"})
# Per target scheme, the audio codecs it carries; None: whatever FFmpeg can send over it.
CARRIED: dict[str, frozenset[str] | None] = {"rtsp": None, "rtsps": None, "srt": MPEGTS_AUDIO}
_TRANSPORT_NAMES = {"rtsp": "RTSP", "rtsps": "RTSPS", "srt": "SRT"}
_CODEC_NAMES = {"pcm_mulaw": "G.711 µ-law", "pcm_alaw": "G.711 A-law", "adpcm_g726": "G.726"}

# 48 kb/s is the most FFmpeg's encoder puts into 8 kHz mono (G.711's rate; more is clamped with a
# warning), and ample for the 8-16 kHz voice of cameras.
AAC_BITRATE = "48k"


class AudioPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What one FFmpeg does with the audio: `mode` (copy, drop, aac), the operator's
    `policy`, the camera's codec when known, and why `mode` differs from `policy`."""

    mode: AudioPolicy
    policy: AudioPolicy
    codec: str | None = None  # FFmpeg's name for the camera's first audio track
    reason: str | None = None  # set only when ucvd chose `mode` itself

    def describe(self) -> str:
        """`aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))`, or just `copy`."""
        return f"{self.mode} (auto: {self.reason})" if self.reason else str(self.mode)


def carries(scheme: str, codec: str) -> bool:
    allowed = CARRIED.get(scheme)
    return allowed is None or codec in allowed


def plan_audio(policy: AudioPolicy, scheme: str, codec: str | None) -> AudioPlan:
    """The audio handling for a camera whose first audio track is `codec` (None: not known
    yet, or no audio) relayed to a target of `scheme`. Only `copy` is ever overridden, and
    only to `aac`, when the transport cannot carry that codec."""
    if policy is AudioPolicy.COPY and codec and not carries(scheme, codec):
        shown = _CODEC_NAMES.get(codec)
        what = f"{shown} ({codec})" if shown else codec
        transport = _TRANSPORT_NAMES.get(scheme, scheme)
        return AudioPlan(
            mode=AudioPolicy.AAC,
            policy=policy,
            codec=codec,
            reason=f"{transport} cannot carry {what}",
        )
    return AudioPlan(mode=policy, policy=policy, codec=codec)


def policy_of(value: AudioPolicy | bool) -> AudioPolicy:
    """The policy of a stored or sent `audio` option: before policies it was a bool
    (`true`: copy the first audio track, `false`: none)."""
    if isinstance(value, bool):
        return AudioPolicy.COPY if value else AudioPolicy.DROP
    return AudioPolicy(value)
