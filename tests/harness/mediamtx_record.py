"""Record what a real MediaMTX answers to the requests ucvd's client makes.

    python -m tests.harness.mediamtx_record [OUTDIR]

Starts the harness's MediaMTX (the one `make deps` builds) with a publishing path, an idle
configured path and an `alwaysAvailable` path, asks its Control API what ucvd asks, and
writes one JSON file per exchange to OUTDIR (default tests/fixtures/mediamtx/<version>/,
the version as /v3/info reports it). tests/unit/test_mediamtx_versions.py feeds these
files through the client; tests/integration/test_mediamtx_client.py checks that a live
server still answers in their shape. Re-run after building another MediaMTX to add its
version.

Each file holds the request, the status, the content type, and the body (`json`, or
`text` when it is not JSON), plus `origin`; a second answer to the same request, taken
later, says how it differs in `variant`. Session ids, times and byte counts are as the
server sent them; none is a secret (the API user's password never appears in an answer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.harness.lab import lab
from tests.harness.media import Audio
from tests.harness.mediamtx import Central
from tests.harness.relay import plain_reader_argv, start_plain_relay
from tests.harness.waiting import wait_until

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mediamtx"

# An `alwaysAvailable` path needs its offline tracks (or a file) spelled out: MediaMTX
# refuses the setting alone ("'alwaysAvailableTracks' must contain at least one track").
ALWAYS_AVAILABLE = {"alwaysAvailable": True, "alwaysAvailableTracks": [{"codec": "H264"}]}
PATHS = {
    "camera_live": {},
    "camera_idle": {},
    "camera_always": ALWAYS_AVAILABLE,
    "all_others": {},
}


def exchange(client: httpx.Client, method: str, url: str, body: Any = None) -> dict[str, Any]:
    response = client.request(method, url, json=body)
    record: dict[str, Any] = {
        "request": f"{method} {url.split('?', maxsplit=1)[0]}",
        "status": response.status_code,
        "content_type": response.headers.get("content-type", ""),
    }
    try:
        record["json"] = response.json()
    except ValueError:
        record["text"] = response.text
    return record


def path_state(client: httpx.Client, name: str) -> dict[str, Any]:
    data: dict[str, Any] = client.get(f"/v3/paths/get/{name}").json()
    return data


def record(central: Central, client: httpx.Client) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def take(name: str, method: str, url: str, body: Any = None) -> None:
        out[name] = exchange(client, method, url, body)

    take("info", "GET", "/v3/info")
    take("paths_list", "GET", "/v3/paths/list?itemsPerPage=100&page=0")
    take("paths_get_live", "GET", "/v3/paths/get/camera_live")
    take("paths_get_idle", "GET", "/v3/paths/get/camera_idle")
    take("paths_get_always_offline", "GET", "/v3/paths/get/camera_always")
    take("paths_get_missing", "GET", "/v3/paths/get/nobody_here")
    take("config_paths_list", "GET", "/v3/config/paths/list?itemsPerPage=100&page=0")
    take("config_paths_add_exists", "POST", "/v3/config/paths/add/camera_idle", {})
    take("unknown_endpoint", "GET", "/v3/no/such/endpoint")
    return out


def main(argv: list[str]) -> int:
    with lab(prefix="ucvd-mtx-record-") as lb:
        central = lb.central(paths=PATHS)
        camera = lb.cameras.add()
        start_plain_relay(lb.registry, lb.tools, camera.url, central.publish_url("camera_live"))
        api = central.server.api
        api.wait_path_ready("camera_live")
        lb.registry.spawn("reader", plain_reader_argv(lb.tools, central.read_url("camera_live")))
        wait_until(lambda: api.readers("camera_live"), timeout=15, what="a reader on the path")
        auth = (central.api_user.user, central.api_user.password)
        with httpx.Client(base_url=central.server.api_url, auth=auth, timeout=8) as client:
            wait_until(
                lambda: path_state(client, "camera_live").get("inboundBytes"),
                timeout=15,
                what="bytes on the live path",
            )
            records = record(central, client)
            # The same alwaysAvailable path with a publisher on it: online now. Its tracks
            # must be the configured offline tracks (H.264 alone), or MediaMTX refuses the
            # ANNOUNCE: a video-only camera.
            silent = lb.cameras.add(audio=Audio.NONE)
            start_plain_relay(
                lb.registry, lb.tools, silent.url, central.publish_url("camera_always"), "relay2"
            )
            wait_until(
                lambda: path_state(client, "camera_always").get("online"),
                timeout=15,
                what="the alwaysAvailable path to go online",
            )
            records["paths_get_always_online"] = {
                "variant": "the alwaysAvailable path once a publisher is on it",
                **exchange(client, "GET", "/v3/paths/get/camera_always"),
            }
        version = str(records["info"]["json"]["version"])
    outdir = Path(argv[0]) if argv else FIXTURES / version
    outdir.mkdir(parents=True, exist_ok=True)
    origin = f"recorded from MediaMTX {version} by `python -m tests.harness.mediamtx_record`"
    for name, rec in records.items():
        text = json.dumps({"origin": origin, **rec}, indent=2) + "\n"
        (outdir / f"{name}.json").write_text(text)
        print(f"{outdir / name}.json: {rec['request']} -> {rec['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
