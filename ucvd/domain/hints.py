"""What to check next, one sentence per error kind: shown beside a camera's last error.

The fault's message says what happened, in FFmpeg's or MediaMTX's words; the hint says
where an operator looks first and which command changes it. Each follows what the kind
means in this code: the classifier's rules (ucvd.relay.ffmpeg.classify), the uplink probe
that turns a silent target into `mediamtx_unreachable` (ucvd.relay.uplink), the watchdog's
stalls and the supervisor's API calls. Every `ucvctl` command named here must parse
(tests/unit/test_hints.py): ID is the camera, NAME the target.
"""

from __future__ import annotations

from ucvd.domain.errors import ErrorKind

_HINTS: dict[ErrorKind, str] = {
    ErrorKind.CONNECTION_FAILED: (
        "The camera did not answer, refused the connection or ended the stream: check that "
        "it is powered and on the network and that the host and port of its URL are right "
        "(`ucvctl camera show ID`); `ucvctl camera probe ID` tries it again now."
    ),
    ErrorKind.AUTH_FAILED: (
        "The camera refused the username or password: set the right ones with "
        "`ucvctl camera update ID --username USER --password-stdin`."
    ),
    ErrorKind.STREAM_UNAVAILABLE: (
        "The camera answered but gave no stream that can be relayed (no such path, no video "
        "track, or data FFmpeg cannot read): check the path of its URL (`ucvctl discover` "
        "lists ONVIF cameras' stream URLs) and see what it sends with "
        "`ucvctl camera probe ID`."
    ),
    ErrorKind.MEDIAMTX_UNREACHABLE: (
        "The central MediaMTX does not answer: check that it runs and that this site's link "
        "reaches the target's RTSP port (and its API port) with `ucvctl target check NAME`; "
        "ucvd retries by itself, at once when the target answers again."
    ),
    ErrorKind.MEDIAMTX_CLOSED: (
        "MediaMTX ended the publishing session while still running: look in its log for a "
        "kick through its API, a restart, or another publisher taking the same path over "
        "(two gateways with the same camera id need different path templates: "
        "`ucvctl target update NAME --path-template site1_{camera_id}`)."
    ),
    ErrorKind.MEDIAMTX_REJECTED: (
        "MediaMTX refused the publication: check the target's publish username and password "
        "(`ucvctl target update NAME --username USER --password-stdin`) and that MediaMTX "
        "lets that user publish on this path, or its API credentials when the path could not "
        "be prepared (`ucvctl target check NAME`); a path busy with another publisher is "
        "refused too."
    ),
    ErrorKind.CERTIFICATE_REJECTED: (
        "The server at the target's address did not show the certificate this target "
        "trusts, so nothing was sent to it: compare `ucvctl target show NAME` (its CA file "
        "or pinned fingerprint) with the server's certificate, which may have been renewed "
        "(`ucvctl target update NAME --fingerprint SHA256`), or look for a machine in "
        "between."
    ),
    ErrorKind.STREAM_STALLED: (
        "No new video reached MediaMTX in time although it answers: the camera may have "
        "frozen, or a link may be too slow for its bitrate; `ucvctl logs ID` shows FFmpeg's "
        "last words, and a camera that sends keyframes rarely may need a longer "
        "start_timeout_s in the config file's [supervision] section (`ucvctl reload`)."
    ),
    ErrorKind.PROCESS_CRASHED: (
        "FFmpeg ended without a reason ucvd recognises: read its last lines with "
        "`ucvctl logs ID`; when it was killed by a signal, the system journal may show why "
        "(the out-of-memory killer, an operator)."
    ),
    ErrorKind.CODEC_UNSUPPORTED: (
        "The camera's codec cannot be carried over RTSP as it is, and ucvd copies streams "
        "without transcoding: set the camera to H.264 or H.265 in its own settings, or, when "
        "the codec refused is the audio's, relay video only with "
        "`ucvctl camera update ID --audio drop` (or `--audio aac`)."
    ),
    ErrorKind.CONFIG_ERROR: (
        "FFmpeg could not be started or refused its options: check the config file's ffmpeg "
        "([daemon]) and [relay] settings and what `ucvctl info` says of FFmpeg; this is not "
        "retried, so once fixed run `ucvctl reload`, then `ucvctl restart ID`."
    ),
    ErrorKind.INTERNAL_ERROR: (
        "A fault in ucvd itself, not in the camera or MediaMTX: ucvd keeps retrying "
        "(`ucvctl restart ID` retries now); please report it with the daemon's log from "
        "that time."
    ),
}


def hint(kind: str) -> str:
    """One sentence on what to check for an error of this kind; "" for a kind unknown here
    (a newer daemon's, or none)."""
    try:
        return _HINTS.get(ErrorKind(kind), "")
    except ValueError:
        return ""
