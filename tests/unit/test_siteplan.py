"""A site's desired state against the daemon's: the plan, table by table, and its refusals."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ucvd.domain import siteplan as sp
from ucvd.domain.model import Camera, CameraOptions, Target
from ucvd.domain.refusals import Invalid

URL = "rtsp://192.0.2.10:554/s"
CENTRAL = Target(name="central", rtsp_url="rtsp://mtx:8554", username="pub", password="pw-T")


def cam(camera_id: str, **fields: Any) -> Camera:
    return Camera(id=camera_id, **({"url": f"{URL}/{camera_id}"} | fields))


def want(camera: Camera, publish: bool = True) -> sp.DesiredCamera:
    return sp.DesiredCamera(camera=camera, publish=publish)


def state(
    cameras: list[Camera] = (),  # type: ignore[assignment]
    publishing: tuple[str, ...] = (),
    targets: tuple[Target, ...] = (CENTRAL,),
    active: str | None = "central",
) -> sp.Current:
    return sp.Current(
        cameras={c.id: c for c in cameras},
        targets={t.name: t for t in targets},
        active=active,
        desired={c.id: "publishing" if c.id in publishing else "stopped" for c in cameras},
    )


def site(
    cameras: dict[str, sp.DesiredCamera],
    targets: tuple[Target, ...] = (CENTRAL,),
    active: str | None = "central",
) -> sp.Desired:
    return sp.Desired(targets={t.name: t for t in targets}, cameras=cameras, active=active)


def changes(plan: sp.Plan) -> list[str]:
    return [
        " ".join([c.kind, c.what, c.name, *(["(" + ",".join(c.fields) + ")"] if c.fields else [])])
        for c in plan.changes
    ]


A, B, C = cam("a"), cam("b"), cam("c", username="admin", password="pw-C")
OTHER = Target(name="backup", rtsp_url="rtsp://mtx2:8554")

# (name, current, desired, prune, expected changes, reconfigured, active_changed)
CASES: list[tuple[str, sp.Current, sp.Desired, bool, list[str], set[str], bool]] = [
    ("from nothing", state(targets=(), active=None),
     site({"a": want(A), "b": want(B, publish=False)}), False,
     ["add target central", "activate target central", "add camera a", "add camera b",
      "start camera a"], set(), True),
    ("the same again", state([A, B], publishing=("a",)),
     site({"a": want(A), "b": want(B, publish=False)}), False, [], set(), False),
    ("one URL", state([A, B], publishing=("a", "b")),
     site({"a": want(A), "b": want(cam("b", url="rtsp://192.0.2.99/x"))}), False,
     ["update camera b (url)"], {"b"}, False),
    ("a password, named not shown", state([C], publishing=("c",)),
     site({"c": want(cam("c", username="admin", password="pw-NEW"))}), False,
     ["update camera c (password)"], {"c"}, False),
    ("stop one", state([A, B], publishing=("a", "b")),
     site({"a": want(A), "b": want(B, publish=False)}), False, ["stop camera b"], set(), False),
    ("options and name", state([A]),
     site({"a": want(cam("a", name="Gate", options=CameraOptions(audio=False)), False)}), False,
     ["update camera a (name,options)"], {"a"}, False),
    ("unnamed, not pruned", state([A, B], publishing=("b",), targets=(CENTRAL, OTHER)),
     site({"a": want(A, publish=False)}), False, [], set(), False),
    ("unnamed, pruned", state([A, B], publishing=("b",), targets=(CENTRAL, OTHER)),
     site({"a": want(A, publish=False)}), True,
     ["stop camera b", "remove camera b", "remove target backup"], set(), False),
    ("the active target's settings", state([A], publishing=("a",)),
     site({"a": want(A)}, targets=(msgspec.structs.replace(CENTRAL, password="pw-2"),)), False,
     ["update target central (password)"], set(), True),
    # The player URL is for people: the relay never reads it, so no camera moves.
    ("the active target's player URL", state([A], publishing=("a",)),
     site({"a": want(A)}, targets=(msgspec.structs.replace(CENTRAL,
                                                           player_url="http://mtx:8889/"),)),
     False, ["update target central (player_url)"], set(), False),
    ("its player URL and a setting FFmpeg reads",
     state([A], publishing=("a",),
           targets=(msgspec.structs.replace(CENTRAL, player_url="http://mtx:8889/"),)),
     site({"a": want(A)}, targets=(msgspec.structs.replace(CENTRAL, password="pw-2"),)), False,
     ["update target central (password,player_url)"], set(), True),
    ("another target's settings", state([A], publishing=("a",), targets=(CENTRAL, OTHER)),
     site({"a": want(A)}, targets=(CENTRAL, msgspec.structs.replace(OTHER, max_reconnects=3))),
     False, ["update target backup (max_reconnects)"], set(), False),
    ("another active target", state([A], publishing=("a",), targets=(CENTRAL, OTHER)),
     site({"a": want(A)}, targets=(CENTRAL, OTHER), active="backup"), False,
     ["activate target backup"], set(), True),
    ("active_target left out keeps it", state([A], publishing=("a",)),
     site({"a": want(A)}, active=None), False, [], set(), False),
    ("names fold to lower case", state([A], publishing=("a",)),
     site({"A": want(cam("A", url=A.url))}, active="Central"), False, [], set(), False),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_plans(case: tuple[str, sp.Current, sp.Desired, bool, list[str], set[str], bool]) -> None:
    _, current, desired, prune, expected, reconfigured, active_changed = case
    plan = sp.plan(current, desired, prune=prune)
    assert changes(plan) == expected
    assert plan.reconfigured == reconfigured
    assert plan.active_changed is active_changed
    shown = msgspec.json.encode(plan.changes)
    assert b"pw-" not in shown  # a secret is named, never shown


def test_the_write_holds_every_change_and_nothing_else() -> None:
    current = state([A, B, C], publishing=("a", "c"), targets=(CENTRAL, OTHER))
    desired = site(
        {
            "a": want(cam("a", url="rtsp://192.0.2.7/a")),
            "c": want(C, publish=False),
            "d": want(cam("d")),
        },
        targets=(CENTRAL,),
    )
    w = sp.plan(current, desired, prune=True).write
    assert w.add_targets == () and w.update_targets == ()
    assert w.remove_targets == ("backup",) and w.activate is None
    assert w.add_cameras == ((cam("d"), "publishing"),)
    assert w.update_cameras == (cam("a", url="rtsp://192.0.2.7/a"),)
    assert w.remove_cameras == ("b",)
    assert w.desired == (("c", "stopped"),)


REFUSALS: list[tuple[str, sp.Current, sp.Desired, bool, list[str]]] = [
    ("bad URL and bad template, both named", state(),
     site({"a": want(A), "bad": want(cam("bad", url="http://x/y"))},
          targets=(CENTRAL, Target(name="t2", rtsp_url="rtsp://h", path_template="a b"))),
     False, ["camera 'bad': camera URL must start with rtsp:// or rtsps://", "target 't2':"]),
    ("an id given twice", state(),
     site({"Cam-1": want(cam("Cam-1")), "cam-1": want(cam("cam-1"))}), False,
     ["camera 'cam-1': the same camera as 'Cam-1'"]),
    ("a bad id", state(), site({"a/b": want(cam("x"))}), False, ["camera 'a/b': camera id"]),
    ("active_target nowhere", state(), site({}, active="nowhere"), False,
     ["active_target 'nowhere' is not among the file or the daemon's targets"]),
    ("pruning the active target", state(targets=(CENTRAL, OTHER)),
     site({}, targets=(OTHER,), active=None), True,
     ["target 'central' is the active target and the file does not name it"]),
    ("active_target pruned", state(targets=(CENTRAL, OTHER)),
     site({}, targets=(OTHER,), active="central"), True,
     ["active_target 'central' is not among the file"]),
    ("targets but none active", state(targets=(), active=None), site({}, active=None), False,
     ["no target is active: set active_target"]),
    ("publishing with no target", state(targets=(), active=None),
     site({"a": want(A)}, targets=(), active=None), False,
     ["cameras are to publish but there is no target"]),
    ("a password without a username", state(),
     site({"a": want(cam("a", password="pw-X"))}), False,
     ["camera 'a': a password without a username"]),
    ("a sub stream of a camera that is nowhere", state(),
     site({"a-sub": want(cam("a-sub", main_id="a"))}), False,
     ["camera 'a-sub' is the sub stream of camera 'a', which does not exist"]),
    ("a main pruned while its sub stays", state([A, cam("a-sub", main_id="a")]),
     site({"a-sub": want(cam("a-sub", main_id="a"))}), True,
     ["camera 'a-sub' is the sub stream of camera 'a', which does not exist"]),
    ("a sub of a sub", state([A, cam("a-sub", main_id="a")]),
     site({"b": want(cam("b", main_id="a-sub"))}), False,
     ["camera 'b' cannot be the sub stream of 'a-sub', itself the sub stream of 'a'"]),
    ("its own sub stream", state(), site({"a": want(cam("a", main_id="A"))}), False,
     ["camera 'a': camera 'a' cannot be the sub stream of itself"]),
    ("a main id that is no id", state([A]), site({"b": want(cam("b", main_id="a b"))}), False,
     ["camera 'b': main camera id 'a b' is invalid"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "desired", "prune", "messages"),
    [c[1:] for c in REFUSALS],
    ids=[c[0] for c in REFUSALS],
)
def test_refusals_list_every_problem_by_name(
    current: sp.Current, desired: sp.Desired, prune: bool, messages: list[str]
) -> None:
    with pytest.raises(Invalid) as refused:
        sp.plan(current, desired, prune=prune)
    text = refused.value.message
    assert text.startswith("the site configuration was refused; nothing changed")
    for message in messages:
        assert message in text
    assert "pw-" not in text


def test_the_fingerprint_follows_the_state_and_the_key() -> None:
    current = state([A], publishing=("a",))
    plan = sp.plan(current, site({"a": want(A, publish=False)}), prune=False)
    mark = sp.fingerprint(current, plan.changes, b"k" * 32)
    assert mark == sp.fingerprint(state([A], publishing=("a",)), plan.changes, b"k" * 32)
    assert mark != sp.fingerprint(state([A]), plan.changes, b"k" * 32)
    assert mark != sp.fingerprint(current, (), b"k" * 32)
    assert mark != sp.fingerprint(current, plan.changes, b"j" * 32)
    moved = state([cam("a", password="other", username="u")], publishing=("a",))
    assert mark != sp.fingerprint(moved, plan.changes, b"k" * 32)


def test_a_main_and_its_sub_stream_come_and_go_together() -> None:
    """Added in one file (in either id order), linked afterwards by an update, unlinked, and
    pruned together: each a plan; the link is part of the camera."""
    sub = cam("0-sub", main_id="z")  # sorts before its main: the store needs no order
    plan = sp.plan(state(), site({"z": want(cam("z")), "0-sub": want(sub)}), prune=False)
    assert changes(plan) == ["add camera 0-sub", "add camera z", "start camera 0-sub",
                             "start camera z"]  # fmt: skip
    assert dict(plan.write.add_cameras)[sub] == "publishing"
    linked = state([cam("z"), cam("0-sub")])
    plan = sp.plan(linked, site({"0-sub": want(sub, publish=False)}), prune=False)
    assert changes(plan) == ["update camera 0-sub (main_id)"]
    assert plan.reconfigured == {"0-sub"}
    unlinked = sp.plan(state([cam("z"), sub]), site({"0-sub": want(cam("0-sub"), False)}),
                       prune=False)  # fmt: skip
    assert unlinked.write.update_cameras == (cam("0-sub"),)
    gone = sp.plan(state([cam("z"), sub, B]), site({"b": want(B, False)}), prune=True)
    assert gone.write.remove_cameras == ("0-sub", "z")
    both = {"z": want(cam("z"), False), "0-sub": want(sub, False)}
    same = sp.plan(state([cam("z"), sub]), site(both), prune=True)
    assert same.changes == ()
