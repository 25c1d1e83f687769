"""Polling cost in three modes, each as a ratio to bare feedparser on the same bodies, beside
lemon24/reader 3.26 polling the same feeds from the same loopback server, in one run.

Corpus and modes (bench/corpus.py): every bundled real feed file —
  cold       66 real feed files (tracker/demo_data/replay, tests/data/feeds), a fresh database,
             one poll of every feed;
  no change  a second poll: every feed answers 304;
  steady     the six replayed feeds of August 2025 served day by day (new Last-Modified each
             day, consecutive snapshots overlapping as a live feed's do), one poll per day,
             days 2-10 timed.
Bare: feedparser.parse(bytes) on the bodies each mode receives with a 200 (the no-change mode is
compared with the cold bodies). The tracker polls through its whole pipeline (fetch, split,
parse, normalise, dedup, score against the shipped article, store, cluster, model upkeep) with
its default configuration but per-host politeness off; reader through update_feeds() in its own
virtual environment (``make bench`` makes .venv-bench). Medians of --repeat runs, alternating.
Targets (issue 15): steady <= 0.8 x bare and >= 2x faster than reader; cold <= 1.5 x bare and
faster than reader; no change <= 0.05 x bare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import cold_files, run_modes, start_server, steady_bodies  # noqa: E402

from tracker.app import Tracker  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.models import ManualClock  # noqa: E402

ARTICLE = ROOT / "articles" / "shifting-sands-of-support.txt"
MODES = ("cold", "steady", "no change")


def bare(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        feedparser.parse(body)
    return time.perf_counter() - started


class TimedTracker(Tracker):
    """A tracker that records the time of each cycle's after-cycle work (clustering, model
    upkeep, alerts): the part of a poll no feed reader does."""

    after: list[float]

    def after_cycle(self, started_at: datetime) -> None:
        started = time.perf_counter()
        super().after_cycle(started_at)
        self.after[-1] += time.perf_counter() - started


def tracker_modes(directory: Path, base: str, workers: int | None) -> dict[str, float]:
    """Seconds per mode, and per mode under ``"<mode> after-cycle"`` the part of them spent
    after the cycle."""
    made: list[TimedTracker] = []

    def client(urls: list[str]) -> Callable[[], object]:
        home = directory / f"tracker-{len(made)}"
        home.mkdir()
        feeds = "\n".join(f"      - {url}" for url in urls)
        polling = f"polling:\n  workers: {workers}\n" if workers else ""
        (home / "config.yaml").write_text(
            f"database: {home}/tracker.db\narticles:\n  - path: {ARTICLE}\n"
            f"outlets:\n  - name: Bench\n    feeds:\n{feeds}\n"
            "fetch:\n  allow_private_networks: true\n  per_host_gap: 0s\n"
            f"  per_host_concurrency: 16\n{polling}"
        )
        clock = ManualClock(datetime(2025, 8, 15, tzinfo=UTC))
        t = TimedTracker(load_config(home / "config.yaml"), clock=clock)
        t.after = []
        t.init()
        made.append(t)

        def poll() -> object:
            clock.set(clock() + timedelta(days=1))
            t.after.append(0.0)
            return t.poll(all_feeds=True)

        return poll

    try:
        times = run_modes(directory, base, client)
        # run_modes polls the first tracker cold then unchanged, the second once untimed (its
        # first day) then once per steady day
        cold, steady = made
        times["cold after-cycle"], times["no change after-cycle"] = cold.after
        times["steady after-cycle"] = sum(steady.after[1:])
        return times
    finally:
        for t in made:
            t.close()


def reader_modes(python: str, directory: Path, base: str) -> dict[str, float]:
    out = subprocess.run(
        [python, str(ROOT / "bench" / "reader_side.py"), base, str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout)["times"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, help="polling.workers (default: the config's)")
    parser.add_argument(
        "--reader-python",
        default=str(ROOT / ".venv-bench" / "bin" / "python"),
        help="a Python with reader 3.26 installed (make bench makes .venv-bench)",
    )
    args = parser.parse_args()
    with_reader = Path(args.reader_python).exists()
    cold = [path.read_bytes() for path in cold_files()]
    steady = steady_bodies()
    results: dict[str, dict[str, list[float]]] = {
        side: {mode: [] for mode in MODES} for side in ("bare", "tracker", "reader")
    }
    for part in ("tracker poll", "tracker after-cycle"):
        results[part] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        root = Path(tmp)
        server, port = start_server(root)
        try:
            bare(cold)  # warm imports and caches once
            for run in range(args.repeat):
                for mode, bodies in (("cold", cold), ("steady", steady), ("no change", cold)):
                    results["bare"][mode].append(bare(bodies))
                sides = [("tracker", lambda d, b: tracker_modes(d, b, args.workers))]
                if with_reader:
                    sides.append(("reader", lambda d, b: reader_modes(args.reader_python, d, b)))
                for side, measure in sides:
                    directory = root / f"{side}-{run}"
                    directory.mkdir()
                    times = measure(directory, f"http://127.0.0.1:{port}/{directory.name}")
                    for mode in MODES:
                        results[side][mode].append(times[mode])
                        if side == "tracker":
                            after = times[f"{mode} after-cycle"]
                            results["tracker after-cycle"][mode].append(after)
                            results["tracker poll"][mode].append(times[mode] - after)
        finally:
            server.terminate()
            server.wait()
    report(results, len(cold), len(steady), args, with_reader)


def report(
    results: dict[str, dict[str, list[float]]],
    cold: int,
    steady: int,
    args: argparse.Namespace,
    with_reader: bool,
) -> None:
    median = {
        s: {m: statistics.median(v) if v else 0.0 for m, v in r.items()} for s, r in results.items()
    }
    print(
        f"corpus: {cold} real feed files (cold, no change); the six replayed feeds of "
        f"15-24 Aug 2025, {steady} changed bodies over days 2-10 (steady); median of "
        f"{args.repeat} runs, tracker workers: {args.workers or 'config default'}"
    )
    columns = ("mode", "bare feedparser", "tracker", "tracker / bare", "reader 3.26")
    print("| " + " | ".join((*columns, "reader / bare", "reader / tracker")) + " |")
    print("|---|---|---|---|---|---|---|")
    for mode in MODES:
        b, t, r = (median[s][mode] for s in ("bare", "tracker", "reader"))
        reader = "– | – | –"
        if with_reader:
            reader = f"{r * 1000:.0f} ms | {r / b:.2f} | {r / t:.2f}"
        print(f"| {mode} | {b * 1000:.0f} ms | {t * 1000:.0f} ms | {t / b:.3f} | {reader} |")
    if not with_reader:
        print("(reader not measured: make bench creates .venv-bench with reader 3.26)")
    print(
        "\nThe tracker's time split: the poll itself (fetch, split, parse, normalise, dedup, "
        "score, store) and the after-cycle work no reader does (clustering, model upkeep, alerts)"
    )
    print("| mode | poll | poll / bare | after-cycle | after-cycle / bare |")
    print("|---|---|---|---|---|")
    for mode in MODES:
        b, p, a = (median[s][mode] for s in ("bare", "tracker poll", "tracker after-cycle"))
        print(f"| {mode} | {p * 1000:.0f} ms | {p / b:.3f} | {a * 1000:.0f} ms | {a / b:.3f} |")


if __name__ == "__main__":
    main()
