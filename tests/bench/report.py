"""The Markdown page of a results file: one short table per scenario, units on every figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.bench.engines import table as engines_table
from tests.bench.measure import summarize


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if c is None else str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _s(summary: dict[str, Any] | None, key: str = "median") -> str:
    if not summary or summary.get(key) is None:
        return "-"
    unit = summary.get("unit", "")
    return f"{summary[key]} {unit}".strip()


def _machine(m: dict[str, Any]) -> str:
    return f"{m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('cpu')}"


def _context(sc: dict[str, Any]) -> str:
    load = ", ".join(str(x) for x in sc.get("loadavg_at_start", []))
    return (
        f"_Run {sc.get('date')} ({sc.get('duration_s')} s) on {_machine(sc.get('machine', {}))}; "
        f"load average at start {load}._"
    )


def _cpu(group: dict[str, Any] | None) -> str:
    return "-" if not group else f"{group['cpu_pct_of_one_core']} %"


def _pss(group: dict[str, Any] | None) -> str:
    return "-" if not group else f"{group['pss_mib']} MiB"


def ttl_section(sc: dict[str, Any]) -> list[str]:
    out = ["## 1. Time to live", "", _context(sc), ""]
    out.append(
        "`ucvctl publish --wait` started → the relay's first picture reached the central "
        "MediaMTX (a tap in front of its RTSP port dates the first video packet); also when "
        "the path was ready (its API polled every 10 ms) and when `ucvctl publish --wait` "
        f"returned. Camera GOP {sc.get('gop_s')} s at {sc.get('fps')} fps."
    )
    out.append("")
    rows = [
        [
            s["label"],
            _s(s.get("first_picture_at_central") or {}),
            _s(s.get("first_picture_at_central") or {}, "p95"),
            _s(s["ready_at_mediamtx"]),
            _s(s["ready_at_mediamtx"], "p95"),
            _s(s["ucvctl_publish_wait_returned"]),
            _s(s["ucvctl_publish_wait_returned"], "p95"),
            f"{s['failures']} of {s['runs']}",
        ]
        for s in sc.get("settings", [])
    ]
    out += _table(
        ["probe setting", "first picture median", "first picture p95", "ready median",
         "ready p95", "ucvctl returned median",
         "ucvctl returned p95", "failed"],
        rows,
    )  # fmt: skip
    return out


def probe_section(sc: dict[str, Any]) -> list[str]:
    out = ["### 1b. Probe options, FFmpeg alone", "", _context(sc), ""]
    out.append(
        "FFmpeg with ucvd's relay options but no daemon: spawn → path ready at MediaMTX, by "
        "input options."
    )
    out.append("")
    plain = sc.get("options")
    if plain:
        out += _table(
            ["FFmpeg input options", "median", "p95", "min", "max", "failed"],
            [
                [
                    f"`{' '.join(r['argv']) or '(none)'}`",
                    _s(r["ready_at_mediamtx"]),
                    _s(r["ready_at_mediamtx"], "p95"),
                    _s(r["ready_at_mediamtx"], "min"),
                    _s(r["ready_at_mediamtx"], "max"),
                    f"{r['failures']} of {r['runs']}",
                ]
                for r in plain
            ],
        )
    return out


def scale_section(sc: dict[str, Any]) -> list[str]:
    out = ["## 2. Scale", "", _context(sc), ""]
    out.append(
        f"N cameras started together (every `publishing.start` at once), then "
        f"{sc.get('steady_window_s')} s steady. CPU in % of one core over the window; memory "
        "is PSS. The simulators (cameras and their feed) would not run on a real gateway."
    )
    out.append("")
    start_rows, health_rows, cost_rows = [], [], []
    for n, size in sc.get("sizes", {}).items():
        st, steady = size["start"], size["steady"]
        h, p = steady["health"], steady["processes"]
        load = ", ".join(str(x) for x in size["environment"]["loadavg_1_5_15"])
        start_rows.append([
            n, f"{st['all_ready_at_mediamtx_s']} s", f"{st['all_publishing_in_ucvd_s']} s",
            _s(st["ready_at_mediamtx_per_camera"]), st["failed_attempts_while_starting"], load,
        ])  # fmt: skip
        health_rows.append([
            n, f"{steady['window_s']} s", h["stalls_stream_stalled"], h["restarts"],
            h["status_changes"],
            f"{h['mediamtx_not_ready_path_samples']} of {h['mediamtx_samples'] * int(n)}",
            len(h["paths_without_new_bytes"]), _s(h["inbound_kbps_per_path"], "min"),
        ])  # fmt: skip
        pc = steady["per_camera"]
        cost_rows.append([
            n, _cpu(p["ucvd"]), _pss(p["ucvd"]), _cpu(p["ucvd_ffmpeg"]), _pss(p["ucvd_ffmpeg"]),
            f"{pc['ucvd_plus_ffmpeg']['cpu_pct_of_one_core']} % / "
            f"{pc['ucvd_plus_ffmpeg']['pss_mib']} MiB",
            _cpu(p["central_mediamtx"]),
            f"{p['camera_simulators']['cpu_pct_of_one_core'] + p['feed_and_feeders']['cpu_pct_of_one_core']:.1f} %",  # noqa: E501
            f"{steady['machine_busy_pct_of_all_cores']} %",
            f"{p['ucvd']['runqueue_wait_pct_per_process']} %",
        ])  # fmt: skip
    out += _table(
        ["cameras", "all ready at MediaMTX", "all publishing (ucvd)", "per camera ready median",
         "failed attempts", "load at start"],
        start_rows,
    )  # fmt: skip
    out += _table(
        ["cameras", "window", "stalls (stream_stalled)", "restarts", "status changes",
         "not-ready path samples", "paths without new bytes", "lowest path bitrate"],
        health_rows,
    )  # fmt: skip
    out += _table(
        ["cameras", "ucvd CPU", "ucvd PSS", "FFmpegs CPU (sum)", "FFmpegs PSS (sum)",
         "per camera (ucvd + FFmpeg)", "central MediaMTX CPU", "simulators CPU",
         "machine busy (all cores)", "ucvd waiting for a CPU"],
        cost_rows,
    )  # fmt: skip
    return out


def overhead_section(sc: dict[str, Any]) -> list[str]:
    n = sc.get("cameras")
    out = ["## 3. Overhead against baselines", "", _context(sc), ""]
    out.append(
        f"The same {n} simulated cameras, one relay after the other, "
        f"{sc.get('steady_window_s')} s steady each. Relay cost is what the relaying "
        "processes use on the box: ucvd and its FFmpegs; the FFmpegs of a shell loop; the "
        "MediaMTX proxy (pulling the cameras; the central server pulls from it)."
    )
    out.append("")
    c = sc.get("comparison", {})
    u = sc["ucvd"]
    rows = []
    for key, label, group, ready, steady in (
        ("ucvd", "ucvd + FFmpeg per camera", None,
         u["start"]["all_ready_at_mediamtx_s"], u["steady"]),
        ("plain_ffmpeg", "plain FFmpeg, shell loop", "plain_ffmpeg",
         sc["plain_ffmpeg"]["all_ready_at_mediamtx_s"], sc["plain_ffmpeg"]["steady"]),
        ("mediamtx_proxy", "MediaMTX proxy (source: rtsp://…)", "proxy_mediamtx",
         sc["mediamtx_proxy"]["all_ready_at_mediamtx_s"], sc["mediamtx_proxy"]["steady"]),
    ):  # fmt: skip
        p = steady["processes"]
        total_cpu = (
            p["ucvd"]["cpu_pct_of_one_core"] + p["ucvd_ffmpeg"]["cpu_pct_of_one_core"]
            if group is None
            else p[group]["cpu_pct_of_one_core"]
        )
        total_pss = (
            p["ucvd"]["pss_mib"] + p["ucvd_ffmpeg"]["pss_mib"]
            if group is None
            else p[group]["pss_mib"]
        )
        h = steady["health"]
        rows.append([
            label, f"{ready} s", f"{total_cpu:.1f} %", f"{total_pss:.1f} MiB",
            f"{c[key]['cpu_pct_of_one_core']} %", f"{c[key]['pss_mib']} MiB",
            _cpu(p["central_mediamtx"]),
            f"{h['mediamtx_not_ready_path_samples']} / {len(h['paths_without_new_bytes'])}",
        ])  # fmt: skip
    out += _table(
        ["relay", "all ready", "relay CPU (sum)", "relay PSS (sum)", "CPU per camera",
         "PSS per camera", "central MediaMTX CPU", "not-ready samples / silent paths"],
        rows,
    )  # fmt: skip
    own = c.get("ucvd_own_cost_vs_plain_total", {})
    r1, r2 = c.get("ratio_ucvd_to_plain", {}), c.get("ratio_ucvd_to_proxy", {})
    out.append(
        f"ucvd's own cost (ucvd + its FFmpegs minus the plain FFmpegs): "
        f"{own.get('cpu_pct_of_one_core')} % of one core, {own.get('pss_mib')} MiB PSS. "
        f"Ratio ucvd / plain FFmpeg: CPU x{r1.get('cpu_pct_of_one_core')}, PSS "
        f"x{r1.get('pss_mib')}. Ratio ucvd / MediaMTX proxy: CPU x{r2.get('cpu_pct_of_one_core')}"
        f", PSS x{r2.get('pss_mib')}."
    )
    out.append("")
    return out


def _row(label: str, summary: dict[str, Any] | None) -> list[Any]:
    return [label, _s(summary), _s(summary, "p95"), _s(summary, "p99"), (summary or {}).get("n")]


def control_section(sc: dict[str, Any]) -> list[str]:
    out = ["## 4. Control plane", "", _context(sc), ""]
    variants = [("as_is", "as is")]
    if "harness_niced" in sc:
        variants.append(("harness_niced", "harness at nice 19"))
    out.append(
        f"{sc.get('cameras')} cameras publishing through one ucvd. "
        + (
            "Measured twice: as is, and with the harness's processes (simulated cameras, feed, "
            "central MediaMTX) at nice 19, closer to a gateway where those are other machines."
            if len(variants) > 1
            else ""
        )
    )
    out.append("")
    rows = []
    for key, label in variants:
        m = sc[key]
        rows += [
            _row(f"`publishing.status` (all cameras) round trip, {label}",
                 m["publishing_status_rtt_all_cameras"]),
            _row(f"`publishing.status` (one camera) round trip, {label}",
                 m["publishing_status_rtt_one_camera"]),
            _row(f"`ucvctl status` wall time, {label}", m["ucvctl_status_wall"]),
            _row(f"metrics event delay (its `at` → received), {label}",
                 m["events"]["metrics_event_delay"]),
        ]  # fmt: skip
    if "scrape" in sc:
        sc_ = sc["scrape"]
        rows.append(
            _row("`GET /metrics` of ucvd-web (one `daemon.metrics` call)", sc_["scrape_wall"])
        )
    out += _table(["measure", "median", "p95", "p99", "n"], rows)
    if "scrape" in sc:
        sc_ = sc["scrape"]
        out += [
            "",
            f"A scrape answers {sc_['series']} series ({sc_['series_per_camera']} per camera) "
            f"in {sc_['body_bytes']} bytes; it costs the daemon about "
            f"{sc_['ucvd_cpu_ms_per_scrape']} ms of CPU (ucvd at "
            f"{sc_['ucvd_cpu_pct_while_scraped_back_to_back']} % of a core while scraped back "
            f"to back, {sc_['ucvd_cpu_pct_idle']} % without scrapes), and ucvd-web "
            f"{sc_.get('ucvd_web_cpu_ms_per_scrape')} ms of CPU "
            f"({sc_.get('ucvd_web_pss_mib')} MiB PSS).",
        ]
    if "apply" in sc:
        ap = sc["apply"]
        out += [
            "",
            f"`ucvctl apply -f` of a site file of {ap['cameras']} cameras (ucvctl's wall time, "
            f"process start included): the first apply {ap['first_apply_ms']} ms; the same file "
            f"again (no changes) {ap['reapply_no_changes']['median']} ms median; one camera's "
            f"URL changed {ap['one_camera_changed']['median']} ms median.",
        ]
    for key, label in variants:
        m = sc[key]
        ev, during = m["events"], m["during_rpc_measurements"]
        out.append(
            f"- {label}: {ev['delivered_per_s_total']} events/s delivered in total to "
            f"{ev['subscribers']} subscribers over {ev['window_s']} s "
            f"({_s(ev['delivered_per_s_per_subscriber'])} each; the daemon sends one metrics "
            f"event per camera every 2 s: {ev['expected_per_s_per_subscriber']}/s each); "
            f"subscribers dropped: {ev['subscribers_dropped']}. During the round trips ucvd used "
            f"{_cpu(during['ucvd'])} of one core and its event loop waited for a CPU "
            f"{during['ucvd']['runqueue_wait_pct_per_process']} % of the time; all cores "
            f"{during['machine_busy_pct_of_all_cores']} % busy."
        )
    out.append("")
    return out


def status_section(sc: dict[str, Any]) -> list[str]:
    out = ["## 4b. `ucvctl status` at a site", "", _context(sc), ""]
    prev = sc.get("previous", {})
    out.append(
        f"{sc.get('cameras')} cameras registered, {sc.get('publishing')} of them publishing, "
        "the harness at nice 19; the client byte-compiled as installed. Aim: "
        f"≤ {sc['aim_ms']:g} ms wall on a quiet machine. Before: "
        f"{prev.get('saturated_100_cameras_publishing_ms')} ms (100 cameras publishing, "
        f"saturated machine), {prev.get('quiet_20_cameras_publishing_ms')} ms (20 cameras, quiet)."
    )
    out.append("")
    rows = [
        [label, _s(sc.get(key)), _s(sc.get(key), "p90"), _s(sc.get(key), "min"),
         (sc.get(key) or {}).get("n")]
        for key, label in (
            ("ucvctl_status_wall", "`ucvctl status` wall (console script, start to exit)"),
            ("ucvctl_status_cpu", "… its CPU time (user + system)"),
            ("interpreter_start_wall", "the interpreter alone (`python -c pass`)"),
            ("client_imports", "the client's imports (PYTHONPROFILEIMPORTTIME)"),
            ("status_rpc_open_connection", "`publishing.status` round trip, open connection"),
            ("status_rpc_with_connect", "… connect, call, close"),
            ("decode_and_render_in_process", "decoding the answer and rendering the table"),
        )
    ]  # fmt: skip
    out += _table(["measure", "median", "p90", "min", "n"], rows)
    out.append(
        f"The client imports {sc.get('client_modules_imported')} modules beyond the "
        f"interpreter's own; the answer is {sc.get('status_answer_bytes')} bytes. The console "
        f"script called `ucvctl.cli.{sc.get('console_script_entry')}()`. Load "
        f"average after: {', '.join(str(x) for x in sc.get('loadavg_after', []))}."
    )
    out.append("")
    return out


def recovery_section(sc: dict[str, Any]) -> list[str]:
    out = ["## 5. Recovery", "", _context(sc), ""]
    b = sc.get("backoff", {})
    out.append(
        f"Backoff: first delay {b.get('first_delay_s')} s, x{b.get('factor')} per failure, "
        f"cap {b.get('cap_s')} s, jitter {b.get('jitter')}; publishing "
        f"{b.get('healthy_after_s')} s forgives earlier failures (shortened from 30 s so every "
        "kill is a first failure)."
    )
    out.append("")
    k, o = sc["ffmpeg_killed"], sc["camera_outage"]
    due = summarize([r["retry_due_after_back_s"] for r in o["each"]])
    rows = [
        ["FFmpeg SIGKILLed → ready at MediaMTX (new publisher)", _s(k["ready_at_mediamtx"]),
         _s(k["ready_at_mediamtx"], "p95"), _s(k["ready_at_mediamtx"], "max"), k["runs"]],
        ["FFmpeg SIGKILLed → ucvd says publishing", _s(k["publishing_in_ucvd"]),
         _s(k["publishing_in_ucvd"], "p95"), _s(k["publishing_in_ucvd"], "max"), k["runs"]],
        [f"camera back after {o['outage_s']} s outage → ready at MediaMTX",
         _s(o["ready_at_mediamtx_after_back"]), _s(o["ready_at_mediamtx_after_back"], "p95"),
         _s(o["ready_at_mediamtx_after_back"], "max"), o["runs"]],
        ["… its next retry was due (backoff) after", _s(due), _s(due, "p95"), _s(due, "max"),
         o["runs"]],
        ["… of which beyond the retry ucvd had scheduled", _s(o["beyond_scheduled_retry"]),
         _s(o["beyond_scheduled_retry"], "p95"), _s(o["beyond_scheduled_retry"], "max"),
         o["runs"]],
    ]  # fmt: skip
    out += _table(["event", "median", "p95", "max", "n"], rows)
    return out


def daemon_section(sc: dict[str, Any]) -> list[str]:
    sizes = sc["sizes"]
    prev = sc["previous"]
    rows = [
        [n, f"{r['steady']['cpu_pct_of_one_core']} %", f"{r['steady']['main_thread_cpu_pct']} %",
         r["steady"]["wakeups_per_s"], f"{r['steady']['pss_mib']} MiB",
         r["environment"]["loadavg_1_5_15"][0]]
        for n, r in sorted(sizes.items(), key=lambda kv: int(kv[0]))
    ]  # fmt: skip
    out = [
        "## 4c. ucvd's own CPU",
        "",
        _context(sc),
        "",
        f"A fresh ucvd with the product's settings publishes N simulated cameras; after the "
        f"start-up burst, a {sizes[max(sizes, key=int)]['steady']['window_s']} s window with "
        "nothing attached measures its CPU (% of one core), its event-loop thread's, its "
        "wake-ups (voluntary context switches per second) and PSS. Aim: ≤ "
        f"{sc['aim_pct']:g} % at 100 cameras. Before the shared ticker: "
        f"{prev['daemon_cpu_100_cameras_pct']} % and "
        f"{prev['daemon_cpu_100_cameras_wakeups_per_s']} wake-ups/s in this scenario, "
        f"{prev['scale_100_cameras_pct']} % in the scale scenario.",
        "",
        *_table(["cameras", "ucvd CPU", "event loop thread", "wake-ups/s", "PSS", "load"], rows),
    ]
    prof = sizes[max(sizes, key=int)].get("profile")
    if prof:
        out += ["", f"Where the event loop's time went ({prof['profiled_s']:g} s under the "
                "stdlib profiler, which slows what it traces; % of the thread's wall time, "
                "the rest is waiting in epoll):", ""]  # fmt: skip
        top = [[f"`{f}`", pct, calls] for f, pct, calls in prof["inclusive"][:12]]
        out += _table(["function (inclusive)", "%", "calls"], top)
    return [*out, ""]


def _when(sc: dict[str, Any]) -> str:
    return str(sc.get("date", "?"))[:10]


def goals(data: dict[str, Any]) -> list[str]:
    sc = data["scenarios"]
    rows = []
    if "ttl" in sc:
        tried = sc["ttl"]["settings"]
        after = next((s for s in tried if s["label"].startswith("after")), tried[-1])
        picture = after.get("first_picture_at_central")
        figure = (f"first picture {_s(picture)}, path ready {_s(after['ready_at_mediamtx'])}"
                  if picture else f"ready {_s(after['ready_at_mediamtx'])}")  # fmt: skip
        rows.append([_when(sc["ttl"]), "time to live median, 1 s GOP", "≤ 1 s (before: 1.36 s)",
                     f"{figure} ({after['label']})"])  # fmt: skip
    if "daemon" in sc:
        d = sc["daemon"]
        for n, r in sorted(d["sizes"].items(), key=lambda kv: int(kv[0])):
            rows.append([
                _when(d),
                f"ucvd's own CPU at {n} cameras (daemon scenario)",
                f"≤ {d['aim_pct']:g} % at 100 (before: "
                f"{d['previous']['daemon_cpu_100_cameras_pct']} % at 100)",
                f"{r['steady']['cpu_pct_of_one_core']} %, {r['steady']['wakeups_per_s']} "
                f"wake-ups/s (load {r['environment']['loadavg_1_5_15'][0]})",
            ])  # fmt: skip
    big = sc.get("scale", {}).get("sizes", {})
    if big:
        n = max(big, key=int)
        h, p = big[n]["steady"]["health"], big[n]["steady"]["processes"]
        rows.append([_when(sc["scale"]), f"{n} cameras, zero stalls", "0",
                     f"{h['stalls_stream_stalled']} stalls, {h['restarts']} restarts"])  # fmt: skip
        rows.append([_when(sc["scale"]), f"ucvd's own CPU at {n} cameras", "< 2 % of one core",
                     _cpu(p["ucvd"])])  # fmt: skip
    if "control" in sc:
        c = sc["control"]
        for key, label in (("as_is", ""), ("harness_niced", ", harness at nice 19")):
            if key in c:
                m = c[key]
                rows.append([_when(c), f"`ucvctl status` wall, {c['cameras']} cameras{label}",
                             "< 150 ms",
                             _s(m["ucvctl_status_wall"])])  # fmt: skip
                rows.append([_when(c), f"`publishing.status` p99, {c['cameras']} cameras{label}",
                             "< 10 ms",
                             _s(m["publishing_status_rtt_all_cameras"], "p99")])  # fmt: skip
    if "status" in sc:
        s, prev = sc["status"], sc["status"].get("previous", {})
        rows.append([
            _when(s),
            f"`ucvctl status` wall, {s['cameras']} cameras ({s['publishing']} publishing), "
            "harness at nice 19",
            f"≤ {s['aim_ms']:g} ms quiet (before: {prev.get('saturated_100_cameras_publishing_ms')}"
            f" ms saturated at 100, {prev.get('quiet_20_cameras_publishing_ms')} ms quiet at 20)",
            f"{_s(s['ucvctl_status_wall'])} (p90 {_s(s['ucvctl_status_wall'], 'p90')}; load "
            f"{s['environment']['loadavg_1_5_15'][0]})",
        ])  # fmt: skip
    return ["## Goals (not test assertions): where this run lands", "",
            "Each row's scenario ran on the date given: rows of older runs measured older code.",
            "", *_table(["run", "goal", "aim", "measured"], rows)]  # fmt: skip


def engines_section(sc: dict[str, Any]) -> list[str]:
    load = sc.get("load", {})
    return [
        f"## 6. Engines: FFmpeg per camera against a site MediaMTX ({sc.get('cameras')} cameras)",
        "",
        _context(sc),
        "",
        f"Waited {load.get('waited_s')} s for the 1-minute load average to fall below 1.5 "
        f"(from {load.get('loadavg_when_asked')}). Both engines run in the same engine host "
        "(tests/bench/engine_host.py), one after the other; docs/engines.md says what each "
        "can and cannot do.",
        "",
        *engines_table(sc),
        "",
    ]


SECTIONS = {
    "ttl": ttl_section,
    "ttl_probe": probe_section,
    "scale": scale_section,
    "overhead": overhead_section,
    "control": control_section,
    "status": status_section,
    "daemon": daemon_section,
    "recovery": recovery_section,
    "engines": engines_section,
}


def render(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    out = [
        f"# ucvd benchmarks ({data.get('mode')} mode)",
        "",
        f"Updated {data.get('updated')}. Machine: {_machine(m)}; kernel {m.get('kernel')}; "
        f"{str(m.get('ffmpeg')).split(' Copyright')[0]}; MediaMTX {m.get('mediamtx')}; "
        f"Python {m.get('python')}. Each scenario below says when it ran "
        "and the load average at its start. Raw figures: the JSON file next to this one. "
        "Reproduce: `make bench` (full) or `make bench-quick`.",
        "",
    ]
    out += goals(data)
    for name, section in SECTIONS.items():
        if name in data.get("scenarios", {}):
            out += section(data["scenarios"][name])
    return "\n".join(out).rstrip() + "\n"
