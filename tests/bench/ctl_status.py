"""`ucvctl status` at a site of 100 cameras: its wall time, and where that time goes.

    .venv/bin/python -m tests.bench.ctl_status [--quick] [--cameras 100] [--publishing 10]

A real ucvd holds `--cameras` cameras, of which `--publishing` publish through the central
MediaMTX (FFmpegs running, metrics flowing) and the rest are registered and stopped: what a
site's status table carries, without a hundred FFmpegs and simulators taking both cores of
this machine from the client being timed. While measuring, the harness's processes
(simulated cameras, their feed, the central MediaMTX) run at nice 19, as if they were the
other machines they stand for.

The client's packages are byte-compiled first, as installed. Measured, each several
times (medians; the load average says how quiet the machine was):
- `ucvctl status`, the installed console script, start to exit: wall and CPU time;
- the interpreter alone (`python -c pass`, the script's interpreter);
- the client's imports during `ucvctl status` (PYTHONPROFILEIMPORTTIME: the import time of
  every module the interpreter did not load on its own), and how many modules that is;
- the daemon's share: the `publishing.status` round trip on an open connection, and with
  the connection opened and closed around it (what one `ucvctl status` does);
- decoding the answer and rendering the table, in process.

The figures go to tests/bench/results/ctl_status.json (and, run by the suite, into
bench-<mode>.json), next to the aim and the figures before this benchmark existed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

import ucvctl
import ucvd
from tests.bench.control import harness_pids, niced
from tests.bench.fleet import SETTLE_S, bench_ucvd, camera_ids, publish_together
from tests.bench.measure import environment, progress, summarize
from tests.bench.procstat import machine
from tests.bench.time_to_live import RESULTS, percentile
from tests.harness.daemon import Ucvd, program
from tests.harness.lab import lab
from ucvctl import render
from ucvctl.client import Client
from ucvd.api import protocol as p

AIM_MS = 100.0
# Figures from before this benchmark (tests/bench/results, 2 cores): the control scenario
# with 100 cameras publishing on a saturated machine, and control_plane.py with 20 cameras.
PREVIOUS = {
    "saturated_100_cameras_publishing_ms": 378.1,
    "quiet_20_cameras_publishing_ms": 68.4,
}


def _summary(values: list[float], digits: int = 1) -> dict[str, Any]:
    """summarize() plus p90: the aim is about a typical run, and its spread."""
    s = summarize(values, unit="ms", digits=digits)
    if values:
        s["p90"] = round(percentile(values, 0.90), digits)
    return s


def _interpreter(script: str) -> str:
    """The Python the console script runs (its shebang), so start-up is measured alike."""
    first = Path(script).read_text().splitlines()[0]
    return first.removeprefix("#!").split()[0]


def timed_process(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU (user + system) milliseconds of one process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    wall = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu, done.stdout


def import_profile(stderr: str) -> tuple[float, set[str]]:
    """Total import time (ms) and the modules in a PYTHONPROFILEIMPORTTIME report: the sum
    of the outermost imports' cumulative times (the nested ones are inside them)."""
    total_us, names = 0, set()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        names.add(name.strip())
        if not name[1:].startswith(" "):  # outermost: "| name", nested: "|   name"
            total_us += int(cumulative)
    return total_us / 1000, names


def imports_of(argv: list[str]) -> tuple[float, set[str]]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    return import_profile(done.stderr)


def repeat(fn: Callable[[], float], times: int) -> list[float]:
    return [fn() for _ in range(times)]


@contextlib.contextmanager
def quiet_harness(pids: list[int]) -> Iterator[None]:
    with niced(pids):
        time.sleep(SETTLE_S)  # let what ran before the renice (the start burst) pass
        yield


def byte_compile(python: str) -> list[str]:
    """Compile the client's packages as an installed ucvctl has them (pip compiles at install,
    the Debian package in its postinst): a source tree run with PYTHONDONTWRITEBYTECODE, as
    the harness often is, would compile every module of ours on every run."""
    dirs = [str(Path(m.__file__).parent) for m in (ucvctl, ucvd) if m.__file__]
    subprocess.run([python, "-m", "compileall", "-q", *dirs], check=True)
    return dirs


def measure(d: Ucvd, cameras: int, runs: int) -> dict[str, Any]:
    script = program("ucvctl")
    python = _interpreter(script)
    status_argv = [script, "--socket", str(d.socket), "status"]
    out: dict[str, Any] = {
        "environment": environment(),
        "byte_compiled": byte_compile(python),
        # run() exits without interpreter teardown; a script installed before it existed
        # calls main() (`make deps` reinstalls it).
        "console_script_entry": "run" if "import run" in Path(script).read_text() else "main",
    }

    # The daemon's share first, with a small client (no process start in it).
    with Client(str(d.socket)) as client:
        raw = client.call_raw("publishing.status", p.StatusQuery())

        def open_rtt() -> float:
            t0 = time.perf_counter()
            client.call_raw("publishing.status", p.StatusQuery())
            return (time.perf_counter() - t0) * 1000

        rtt = repeat(open_rtt, runs * 10)

    def fresh_rtt() -> float:
        t0 = time.perf_counter()
        with Client(str(d.socket)) as client:
            client.call_raw("publishing.status", p.StatusQuery())
        return (time.perf_counter() - t0) * 1000

    fresh = repeat(fresh_rtt, runs * 5)

    def decode_render() -> float:
        t0 = time.perf_counter()
        render.status_table(msgspec.json.decode(raw, type=p.StatusList))
        return (time.perf_counter() - t0) * 1000

    rendering = repeat(decode_render, runs * 10)
    table = render.status_table(msgspec.json.decode(raw, type=p.StatusList))

    # Then the processes an operator would run.
    start = [timed_process([python, "-c", "pass"])[0] for _ in range(runs)]
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, text = timed_process(status_argv)
        # The whole table, as the in-process rendering has it (uptimes aside).
        assert text.count("\n") == table.count("\n") + 1, text[-300:]
        assert text.endswith(f"of {cameras} cameras active\n"), text[-300:]
        walls.append(wall)
        cpus.append(cpu)
    base_ms, base_modules = [], set[str]()
    ctl_ms, ctl_modules = [], set[str]()
    for _ in range(max(5, runs // 2)):
        ms, base_modules = imports_of([python, "-c", "pass"])
        base_ms.append(ms)
        ms, ctl_modules = imports_of(status_argv)
        ctl_ms.append(ms)
    client_imports = [c - b for c, b in zip(ctl_ms, base_ms, strict=True)]
    ours = sorted(ctl_modules - base_modules)
    out.update(
        {
            "ucvctl_status_wall": _summary(walls),
            "ucvctl_status_cpu": _summary(cpus),
            "interpreter_start_wall": _summary(start),
            "client_imports": _summary(client_imports),
            "client_modules_imported": len(ours),
            "client_modules_of_ucvd": [m for m in ours if m.split(".")[0] in {"ucvd", "ucvctl"}],
            "status_rpc_open_connection": _summary(rtt, digits=2),
            "status_rpc_with_connect": _summary(fresh, digits=2),
            "decode_and_render_in_process": _summary(rendering, digits=2),
            "status_answer_bytes": len(raw),
            "loadavg_after": environment()["loadavg_1_5_15"],
        }
    )
    return out


def run(quick: bool, cameras: int = 100, publishing: int | None = None) -> dict[str, Any]:
    runs = 20 if quick else 40
    publishing = (10 if quick else 20) if publishing is None else publishing
    result: dict[str, Any] = {
        "cameras": cameras,
        "publishing": publishing,
        "runs": runs,
        "aim_ms": AIM_MS,
        "previous": PREVIOUS,
    }
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sims = env.cameras.add_many(publishing, timeout=180)
        ids = camera_ids(cameras)
        d = bench_ucvd(env, central, "ucvd-status")
        with Client(str(d.socket)) as client:
            for i, camera_id in enumerate(ids):
                # The stopped ones name a simulator's URL too: never dialled, only listed.
                url = sims[i % len(sims)].url
                client.call_raw("camera.add", p.CameraAdd(id=camera_id, url=url))
        publish_together(d, central, ids[:publishing], timeout=180)
        progress(f"status: {cameras} cameras, {publishing} of them publishing")
        with quiet_harness(harness_pids(env, central)):
            result.update(measure(d, cameras, runs))
        d.terminate()
    progress(line(result))
    return result


def line(r: dict[str, Any]) -> str:
    return (
        f"status: ucvctl status {r['ucvctl_status_wall']['median']} ms median, "
        f"p90 {r['ucvctl_status_wall']['p90']} ms (aim {AIM_MS:g} ms; before: "
        f"{PREVIOUS['saturated_100_cameras_publishing_ms']} ms saturated at 100, "
        f"{PREVIOUS['quiet_20_cameras_publishing_ms']} ms quiet at 20); interpreter "
        f"{r['interpreter_start_wall']['median']} ms, imports {r['client_imports']['median']} "
        f"ms ({r['client_modules_imported']} modules), daemon's call "
        f"{r['status_rpc_open_connection']['median']} ms ({r['status_rpc_with_connect']['median']}"
        f" ms with connect), decode + render {r['decode_and_render_in_process']['median']} ms; "
        f"console script calls ucvctl.cli.{r['console_script_entry']}(); "
        f"load {r['environment']['loadavg_1_5_15']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 runs instead of 40")
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--publishing", type=int, default=None, help="quick 10, full 20")
    parser.add_argument("--output", default="ctl_status.json")
    args = parser.parse_args()
    result = {
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **run(args.quick, args.cameras, args.publishing),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
