"""A process that hosts one ucvd supervisor, for tests that must kill the host.

    python -m tests.harness.supervisor_host SPEC.json

SPEC holds {"camera": ..., "target": ...} as ucvd's msgspec structs; the FFmpeg is the one
under test (UCVD_TEST_FFMPEG). Status changes are
printed one per line, so a test can wait for "publishing" in the log.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import msgspec

from tests.harness.tools import ffmpeg_under_test
from ucvd.domain.model import Camera, Target
from ucvd.relay.mediamtx import MediaMTXClient
from ucvd.relay.status import Notification, StatusChanged
from ucvd.relay.supervisor import Supervisor


class Spec(msgspec.Struct):
    camera: Camera
    target: Target


def show(note: Notification) -> None:
    if isinstance(note, StatusChanged):
        print(f"{note.camera_id} {note.old.value} -> {note.new.value}", flush=True)


async def main(spec: Spec) -> None:
    target = spec.target
    assert target.api_url is not None
    async with MediaMTXClient(target.api_url, credentials=target.api_credentials()) as client:
        sup = Supervisor(
            spec.camera, target, ffmpeg=ffmpeg_under_test(), mediamtx=client, notify=show
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run)
            await sup.start()
            await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=Spec))
