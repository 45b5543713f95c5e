"""Glue between the harness and ucvd's model: cameras and targets as ucvd sees them."""

from __future__ import annotations

from tests.harness.cameras import Camera as SimCamera
from tests.harness.mediamtx import Central
from ucvd.domain.model import Camera, CameraOptions, Target


def target_for(central: Central, **overrides: object) -> Target:
    """A ucvd target pointing at a harness central MediaMTX, with its real accounts."""
    fields: dict[str, object] = {
        "name": "central",
        "rtsp_url": central.server.rtsp_url("").rstrip("/"),
        "api_url": central.server.api_url,
        "username": central.publisher.user,
        "password": central.publisher.password,
        "api_username": central.api_user.user,
        "api_password": central.api_user.password,
        "reconnect_delay": 0.5,
    }
    fields.update(overrides)
    return Target(**fields)  # type: ignore[arg-type]


def camera_for(sim: SimCamera, camera_id: str | None = None, **options: object) -> Camera:
    """A ucvd camera for a simulated one: URL without credentials, credentials apart."""
    creds = sim.credentials
    return Camera(
        id=camera_id or sim.name,
        url=sim.url,
        username=creds.user if creds else None,
        password=creds.password if creds else None,
        options=CameraOptions(**options),  # type: ignore[arg-type]
    )
