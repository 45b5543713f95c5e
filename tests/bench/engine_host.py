"""A process that runs ucvd's relay engine alone (the registry and its supervisors, as the
daemon wires them, without the socket or the store), for `tests/bench/engines.py`:

    python -m tests.bench.engine_host SPEC.json

SPEC names the engine (`ffmpeg`, the default one, or `mediamtx`, the prototype of
tests/prototypes/mtxengine), the cameras and the target. Every camera is started at once;
each status change is printed as one JSON line with the monotonic time it happened (the
bench reads the same clock). SIGTERM stops every publication cleanly, as the daemon's shutdown does.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import anyio
import msgspec

from tests.prototypes.mtxengine.site import SiteMediaMTX
from tests.prototypes.mtxengine.supervisor import MtxEngine
from ucvd.config import Config
from ucvd.domain.model import Camera, Target
from ucvd.relay.registry import Engine, Publications
from ucvd.relay.status import Notification, StatusChanged
from ucvd.relay.supervisor import Supervisor


class Spec(msgspec.Struct):
    engine: str
    state_dir: str
    ffmpeg: str
    mediamtx: str
    target: Target
    cameras: list[Camera]


def show(note: Notification) -> None:
    if isinstance(note, StatusChanged):
        line = {
            "t": time.monotonic(),
            "camera": note.camera_id,
            "new": note.new.value,
            "kind": note.error.kind.value if note.error else None,
        }
        print(msgspec.json.encode(line).decode(), flush=True)


async def main(spec: Spec) -> None:
    state = Path(spec.state_dir)
    tag = f"ucvd:{state}:"
    site = SiteMediaMTX(spec.mediamtx, state, tag=f"{tag}site-mediamtx", log_level="info")
    engine: Engine = MtxEngine(site) if spec.engine == "mediamtx" else Supervisor
    pubs = Publications(
        settings=Config().supervisor_settings(),  # the product's defaults
        ffmpeg=spec.ffmpeg,
        tag_prefix=tag,
        notify=show,
        engine=engine,
    )
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as tg:
            if spec.engine == "mediamtx":
                await tg.start(site.run)
            await tg.start(pubs.run)
            async with anyio.create_task_group() as starts:
                for camera in spec.cameras:
                    starts.start_soon(pubs.start, camera, spec.target)
            print('{"started": true}', flush=True)
            async for _sig in signals:
                break
            await pubs.shutdown()
            tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main, msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=Spec))
