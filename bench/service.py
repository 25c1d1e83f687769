"""Service endurance: 200 local feeds with changing real content, 1,000 accelerated cycles.

Phase 1 (accelerated, in this process): the service's dispatcher — the job ``tracker run`` has
APScheduler call every ``polling.dispatch_every`` — driven 1,000 times with a virtual clock that
advances one dispatch interval (1 min) per cycle, so ~17 hours of service time take minutes. The
same worker pool, pipeline, store, HTTP client, per-host gate, cycle records and heartbeats as the
service; only the wall-clock wait between ticks is skipped.

Phase 2 (real process): ``python -m tracker run`` itself, APScheduler and all, against the same
feeds with short real intervals for ``--real-seconds``, sampled from /proc/PID; then SIGTERM.

Feeds: tracker.localserver in another process (its memory and threads do not count) serves 200
feeds, each cycling through the real snapshots of one outlet (tracker/demo_data/replay, August
2025). Every ``--change-every`` requests a feed's content changes: the next day's snapshot, with
its first five items given new links of their own, so new items keep arriving for ever (as on a
live feed) and the database keeps growing.

Prints RSS (current and peak), open file descriptors and threads every 100 cycles, and items/s.
Targets: final RSS <= 1.1x the RSS after warm-up (the first 100 cycles); no growth in fds or
threads.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.models import ManualClock  # noqa: E402
from tracker.update.engine import CycleReport, Dispatcher  # noqa: E402

REPLAY = ROOT / "tracker" / "demo_data" / "replay"
OUTLETS = ("guardian-world", "bloomberg-politics", "ft-world", "lemonde-en", "nbc-world", "bbc")
NEW_PER_CHANGE = 5
WARM_UP = 100


# --- the feed server (a separate process) --------------------------------------------------------


def snapshots() -> dict[str, list[bytes]]:
    days: dict[str, list[bytes]] = {}
    for name in OUTLETS:
        days[name] = [p.read_bytes() for p in sorted(REPLAY.glob(f"{name}*.xml"))]
    return days


def generation(body: bytes, gen: str) -> bytes:
    """The snapshot with its first items turned into new ones (new links and guids)."""
    count = {"link": 0, "guid": 0}

    def fresh(match: re.Match[bytes]) -> bytes:
        tag = match.group(1).decode()[1:].split()[0].rstrip(">")
        count[tag] += 1
        if count[tag] > NEW_PER_CHANGE + (tag == "link"):  # +1: the channel's own <link>
            return match.group(0)
        return match.group(1) + match.group(2) + f"?gen={gen}".encode() + match.group(3)

    return re.sub(rb"(<(?:link|guid)[^>]*>)([^<]+)(</(?:link|guid)>)", fresh, body)


def serve(port: int, feeds: int, change_every: int) -> None:
    from tracker.demo.localserver import Document, FeedServer, serve_document

    days = snapshots()
    lock = threading.Lock()
    hits: dict[int, int] = {}
    cache: dict[int, tuple[int, Document]] = {}

    def route(index: int):
        outlet = OUTLETS[index % len(OUTLETS)]
        sequence = days[outlet]

        def handle(handler) -> None:
            with lock:
                hits[index] = hits.get(index, 0) + 1
                gen = hits[index] // change_every
                if index not in cache or cache[index][0] != gen:
                    body = sequence[(index // len(OUTLETS) + gen) % len(sequence)]
                    cache[index] = (gen, Document(generation(body, f"{index}-{gen}")))
                document = cache[index][1]
            serve_document(handler, document)

        return handle

    server = FeedServer(port)
    for i in range(feeds):
        server.add(f"/feed/{i}.xml", route(i))
    server.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


# --- measuring -----------------------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            fields[key] = int(value.split()[0])
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return fields


def mb(kb: int) -> str:
    return f"{kb / 1024:6.1f} MB"


def write_config(workdir: Path, base: str, feeds: int, polling: str, name: str) -> Path:
    lines = [
        f"database: {workdir}/{name}.db",
        f"articles:\n  - path: {ROOT}/articles/shifting-sands-of-support.txt",
        "outlets:",
    ]
    for o, outlet in enumerate(OUTLETS):
        urls = [f"{base}/feed/{i}.xml" for i in range(o, feeds, len(OUTLETS))]
        lines.append(f"  - name: {outlet}\n    feeds:\n" + "\n".join(f"      - {u}" for u in urls))
    lines.append(
        "fetch:\n  allow_private_networks: true\n  per_host_gap: 0s\n  per_host_concurrency: 8\n"
        f"  deadline: 30s\npolling:\n{polling}"
    )
    path = workdir / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- phase 1: accelerated cycles in this process -------------------------------------------------


def accelerated(config: Path, cycles: int, workers: int) -> None:
    clock = ManualClock(datetime(2025, 8, 25, tzinfo=UTC))
    # running totals only: keeping every report would be the bench's own memory growth
    totals = {"polls": 0, "new": 0, "errors": 0}
    with Tracker(load_config(config), clock=clock) as t:
        t.init()
        run_id = t.store.start_service_run(
            pid=os.getpid(),
            host="bench",
            version="bench",
            config=str(config),
            heartbeat_every=60,
            now=clock(),
        )

        def on_cycle(report: CycleReport) -> None:
            t.record_cycle(run_id, report)
            totals["polls"] += len(report.summary.results)
            totals["new"] += report.summary.items_new
            totals["errors"] += report.summary.count("error")

        dispatcher = Dispatcher(t.context, workers, on_cycle)
        print(f"phase 1: {cycles} cycles, 1 virtual minute apart, {workers} workers")
        print("  cycle   polls   new items      RSS      peak   fds threads  elapsed")
        started, warm = time.monotonic(), {}
        for cycle in range(1, cycles + 1):
            clock.set(clock() + timedelta(minutes=1))
            dispatcher.tick()
            if not dispatcher.wait_idle(600):
                raise SystemExit(f"cycle {cycle} did not finish")
            t.store.service_heartbeat(run_id, clock(), 0)
            if cycle == WARM_UP:
                warm = proc_status()
            if cycle % 100 == 0 or cycle == 1:
                now = proc_status()
                print(
                    f"  {cycle:5d} {totals['polls']:7d} {totals['new']:11d} "
                    f"{mb(now['VmRSS'])} {mb(now['VmHWM'])} "
                    f"{now['fds']:5d} {now['Threads']:7d} {time.monotonic() - started:7.1f}s",
                    flush=True,
                )
        elapsed = time.monotonic() - started
        final = proc_status()
        dispatcher.stop(10)
        stored = t.store.counts()
    polls, new, errors = totals["polls"], totals["new"], totals["errors"]
    print(
        f"phase 1 result: {polls} polls ({errors} failed), {new} new items "
        f"({stored['items']} stored) in {elapsed:.1f}s: {polls / elapsed:.1f} polls/s, "
        f"{new / elapsed:.1f} items/s"
    )
    print(
        f"  RSS after warm-up (cycle {WARM_UP}) {mb(warm['VmRSS'])}, final {mb(final['VmRSS'])} "
        f"(x{final['VmRSS'] / warm['VmRSS']:.3f}, target <= 1.1), peak {mb(final['VmHWM'])}"
    )
    print(
        f"  open fds {warm['fds']} -> {final['fds']}, "
        f"threads {warm['Threads']} -> {final['Threads']}"
    )


# --- phase 2: the real service process -----------------------------------------------------------


def real_process(config: Path, seconds: float) -> None:
    db = load_config(config).database
    with Tracker(load_config(config)) as t:
        t.init()
    log = config.with_suffix(".log")
    with log.open("wb") as stderr:
        service = subprocess.Popen(
            [sys.executable, "-m", "tracker", "-c", str(config), "run", "--log-level", "warning"],
            stderr=stderr,
        )
    print(f"phase 2: python -m tracker run (pid {service.pid}) for {seconds:.0f}s")
    print("   time  cycles     items      RSS      peak   fds threads")
    samples = []
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            time.sleep(min(10.0, seconds - elapsed))
            if service.poll() is not None:
                raise SystemExit(f"the service exited ({service.returncode}); see {log}")
            sample = proc_status(service.pid)
            samples.append((time.monotonic() - started, sample))
            cycles, items = db_counts(db)
            print(
                f"  {samples[-1][0]:5.0f}s {cycles:7d} {items:9d} {mb(sample['VmRSS'])} "
                f"{mb(sample['VmHWM'])} {sample['fds']:5d} {sample['Threads']:7d}",
                flush=True,
            )
    finally:
        service.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = service.wait(60)
    warm = next((s for t, s in samples if t >= seconds / 4), samples[0][1])
    final = samples[-1][1]
    cycles, items = db_counts(db)
    print(
        f"phase 2 result: {cycles} cycles, {items} items; RSS after warm-up {mb(warm['VmRSS'])}, "
        f"final {mb(final['VmRSS'])} (x{final['VmRSS'] / warm['VmRSS']:.3f}), "
        f"peak {mb(final['VmHWM'])}; fds {warm['fds']} -> {final['fds']}, "
        f"threads {warm['Threads']} -> {final['Threads']}; SIGTERM: exit {code} "
        f"in {time.monotonic() - stopping:.1f}s"
    )
    problems = [line for line in log.read_text().splitlines() if "ERROR" in line]
    if problems:
        print(f"  {len(problems)} errors logged, first: {problems[0]}")


def db_counts(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        cycles = conn.execute("SELECT count(*) FROM service_cycles").fetchone()[0]
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        conn.close()
    return cycles, items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the feed server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--change-every", type=int, default=3, help="requests per content change")
    parser.add_argument("--real-seconds", type=float, default=120, help="phase 2; 0 skips it")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cycles <= WARM_UP:
        parser.error(f"--cycles must be more than the {WARM_UP} warm-up cycles")
    if args.serve:
        serve(args.serve, args.feeds, args.change_every)
        return
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            str(port),
            "--feeds",
            str(args.feeds),
            "--change-every",
            str(args.change_every),
        ]
    )
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            polling = f"  interval: 30m\n  min_interval: 10m\n  workers: {args.workers}\n"
            accelerated(
                write_config(workdir, base, args.feeds, polling, "phase1"),
                args.cycles,
                args.workers,
            )
            if args.real_seconds > 0:
                polling = (
                    f"  interval: 20s\n  min_interval: 10s\n  dispatch_every: 1s\n"
                    f"  workers: {args.workers}\n"
                )
                real_process(
                    write_config(workdir, base, args.feeds, polling, "phase2"), args.real_seconds
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
