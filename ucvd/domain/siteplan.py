"""Configuration as code: a site's whole desired state against the daemon's, as a plan. Pure.

`plan()` takes what the daemon holds and what the operator's file names, validates every
item with the rules of `camera.add` and `target.add` (ucvd.domain.validation), and returns
the changes in the order they are shown and the one write that makes them. Every problem
is collected before anything is refused, so a refusal lists them all, each with its item's
name. What to restart is not decided here: that depends on what is running, which only
the engine knows; the plan says which cameras and targets changed.

The fingerprint ties a plan to the state it was made against: the daemon refuses to apply
a plan whose state has changed since. It is keyed (HMAC) because the state holds
passwords and the fingerprint is shown to the operator.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from ucvd.domain import validation as valid
from ucvd.domain.model import Camera, Target
from ucvd.domain.refusals import Invalid

Kind = Literal["add", "update", "remove", "activate", "start", "stop"]
What = Literal["camera", "target"]
SECRET_FIELDS = frozenset({"password", "api_password", "srt_passphrase"})
PUBLISHING, STOPPED = "publishing", "stopped"
T = TypeVar("T", Camera, Target)


class DesiredCamera(msgspec.Struct, frozen=True, kw_only=True):
    camera: Camera  # as given: validated by plan()
    publish: bool


class Desired(msgspec.Struct, frozen=True, kw_only=True):
    """The file's word: items by the name the file gives them (folded by plan())."""

    targets: dict[str, Target]
    cameras: dict[str, DesiredCamera]
    active: str | None  # None: the active target stays as it is


class Current(msgspec.Struct, frozen=True, kw_only=True):
    cameras: dict[str, Camera]
    targets: dict[str, Target]
    active: str | None
    desired: dict[str, str]  # camera id -> "publishing" | "stopped"


class Change(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    what: What
    name: str
    fields: tuple[str, ...] = ()  # of an update: the names of the fields that differ


class SiteWrite(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an apply writes, in one transaction (Store.apply_site)."""

    add_targets: tuple[Target, ...] = ()
    update_targets: tuple[Target, ...] = ()
    remove_targets: tuple[str, ...] = ()
    activate: str | None = None  # None: the active target does not change
    add_cameras: tuple[tuple[Camera, str], ...] = ()  # with its desired state
    update_cameras: tuple[Camera, ...] = ()
    remove_cameras: tuple[str, ...] = ()
    desired: tuple[tuple[str, str], ...] = ()  # existing cameras whose desired state changes


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    changes: tuple[Change, ...]
    write: SiteWrite
    reconfigured: frozenset[str]  # existing cameras whose configuration changed
    active: str | None  # the active target once applied
    active_changed: bool  # another target, or the active one's relay settings changed


def check_target(name: str, target: Target) -> Target:
    """The target as `target.add` would register it under `name`, or Invalid."""
    folded = valid.target_name(name)
    return valid.target(msgspec.structs.replace(target, name=folded))


def check_camera(camera_id: str, camera: Camera) -> Camera:
    """The camera as `camera.add` would register it under `camera_id`, or Invalid."""
    return valid.camera(
        id=camera_id,
        url=camera.url,
        username=camera.username,
        password=camera.password,
        name=camera.name,
        options=camera.options,
        main_id=camera.main_id,
    )


def check_items(
    targets: dict[str, Target], cameras: dict[str, Camera]
) -> tuple[dict[str, Target], dict[str, Camera], list[str]]:
    """Every item validated, by its folded name, and every problem named by its item."""
    problems: list[str] = []
    good_targets = _checked("target", targets, check_target, lambda t: t.name, problems)
    good_cameras = _checked("camera", cameras, check_camera, lambda c: c.id, problems)
    return good_targets, good_cameras, problems


def _checked(
    what: str,
    items: dict[str, T],
    check: Callable[[str, T], T],
    key_of: Callable[[T], str],
    problems: list[str],
) -> dict[str, T]:
    good: dict[str, T] = {}
    given: dict[str, str] = {}
    for name, item in items.items():
        try:
            checked = check(name, item)
        except Invalid as exc:
            problems.append(f"{what} {name!a}: {exc.message}")
            continue
        key = key_of(checked)
        if key in given:
            problems.append(
                f"{what} {name!a}: the same {what} as {given[key]!a} ({what} names are not "
                "case-sensitive)"
            )
            continue
        given[key] = name
        good[key] = checked
    return good


def _differs(old: msgspec.Struct, new: msgspec.Struct) -> tuple[str, ...]:
    return tuple(
        f for f in old.__struct_fields__ if getattr(old, f) != getattr(new, f) and f != "id"
    )


def plan(current: Current, desired: Desired, *, prune: bool) -> Plan:
    """The changes that make `current` what `desired` says, or Invalid listing every
    problem. Without `prune`, items the file does not name are left as they are."""
    targets, cameras, problems = check_items(
        desired.targets, {cid: d.camera for cid, d in desired.cameras.items()}
    )
    wants = {
        cid.lower(): PUBLISHING if d.publish else STOPPED
        for cid, d in desired.cameras.items()
        if cid.lower() in cameras
    }
    kept = {cid: c for cid, c in current.cameras.items() if not prune or cid in cameras}
    problems += valid.link_problems(kept | cameras)  # the links as they would be once applied
    remove_t = sorted(set(current.targets) - set(targets)) if prune else []
    remaining = (set(current.targets) | set(targets)) - set(remove_t)
    active = _active(current.active, desired.active, remaining, prune, problems)
    if active is None and PUBLISHING in wants.values() and not remaining:
        problems.append("cameras are to publish but there is no target: add one to the file")
    if problems:
        raise Invalid(
            "the site configuration was refused; nothing changed:\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    update_t = [t for n, t in sorted(targets.items()) if n in current.targets]
    update_c = [c for i, c in sorted(cameras.items()) if i in current.cameras]
    write = SiteWrite(
        add_targets=tuple(t for n, t in sorted(targets.items()) if n not in current.targets),
        update_targets=tuple(t for t in update_t if t != current.targets[t.name]),
        remove_targets=tuple(remove_t),
        activate=active if active != current.active else None,
        add_cameras=tuple(
            (c, wants[i]) for i, c in sorted(cameras.items()) if i not in current.cameras
        ),
        update_cameras=tuple(c for c in update_c if c != current.cameras[c.id]),
        remove_cameras=tuple(sorted(set(current.cameras) - set(cameras)) if prune else ()),
        desired=tuple(
            (i, want)
            for i, want in sorted(wants.items())
            if i in current.cameras and current.desired.get(i, STOPPED) != want
        ),
    )
    # Only what the relay reads moves the active target's cameras: a new player URL does not.
    active_updated = any(
        t.name == active and t.for_relay() != current.targets[t.name].for_relay()
        for t in write.update_targets
    )
    return Plan(
        changes=_changes(current, write),
        write=write,
        reconfigured=frozenset(c.id for c in write.update_cameras),
        active=active,
        active_changed=write.activate is not None or active_updated,
    )


def _active(
    active: str | None, wanted: str | None, remaining: set[str], prune: bool, problems: list[str]
) -> str | None:
    """The active target once applied; a problem when there would be none or a wrong one."""
    if wanted is not None:
        if wanted.lower() in remaining:
            return wanted.lower()
        where = "the file" if prune else "the file or the daemon's targets"
        problems.append(f"active_target {wanted!a} is not among {where}")
    elif active is not None and active not in remaining:
        problems.append(
            f"target {active!r} is the active target and the file does not name it: "
            "name it, or set active_target to another target the file names"
        )
    elif active is None and remaining:
        problems.append("no target is active: set active_target to one of the targets")
    return active


def _changes(current: Current, w: SiteWrite) -> tuple[Change, ...]:
    """The write, as the operator reads it: targets first, then cameras, then what starts
    and stops."""
    changes = [Change(kind="add", what="target", name=t.name) for t in w.add_targets]
    changes += [
        Change(
            kind="update", what="target", name=t.name, fields=_differs(current.targets[t.name], t)
        )
        for t in w.update_targets
    ]
    if w.activate is not None:
        changes.append(Change(kind="activate", what="target", name=w.activate))
    changes += [Change(kind="add", what="camera", name=c.id) for c, _ in w.add_cameras]
    changes += [
        Change(kind="update", what="camera", name=c.id, fields=_differs(current.cameras[c.id], c))
        for c in w.update_cameras
    ]
    for camera_id in w.remove_cameras:  # a removed camera stops first
        if current.desired.get(camera_id) == PUBLISHING:
            changes.append(Change(kind="stop", what="camera", name=camera_id))
        changes.append(Change(kind="remove", what="camera", name=camera_id))
    changes += [Change(kind="remove", what="target", name=n) for n in w.remove_targets]
    turned = [(c.id, d) for c, d in w.add_cameras if d == PUBLISHING] + list(w.desired)
    changes += [
        Change(kind="start" if d == PUBLISHING else "stop", what="camera", name=camera_id)
        for camera_id, d in sorted(turned)
    ]
    return tuple(changes)


def fingerprint(current: Current, changes: tuple[Change, ...], key: bytes) -> str:
    """Equal for equal states and changes; keyed, so it tells nothing of the passwords."""
    state = (
        sorted(current.cameras.items()),
        sorted(current.targets.items()),
        current.active,
        sorted(current.desired.items()),
        changes,
    )
    return hmac.new(key, msgspec.json.encode(state), hashlib.sha256).hexdigest()[:32]
