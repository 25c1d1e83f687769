"""Fault suite, storage (issue 10): the database held by other processes, not writable, damaged
or out of space, while the same healthy feeds are polled. A storage fault is no feed's fault:
it ends the cycle with one clear error (never one per feed), and leaves the file as it was.

Pending, for code not merged yet: the digest written on a full disk (issue 5), ``tracker query``
refusing writes, ATTACH, PRAGMA and load_extension, and exporting 1M rows (issue 7).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

import tracker.storage.base
from tracker.app import Tracker
from tracker.cli import cli
from tracker.config import load_config
from tracker.demo.localserver import FeedServer
from tracker.errors import StorageError
from tracker.models import CycleSummary
from tracker.storage import Store, to_db

from ..conftest import REPLAY

#: holds a transaction on the database until a line arrives on stdin, reporting what it sees
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute(sys.argv[2])
count = lambda: conn.execute("SELECT count(*) FROM items").fetchone()[0]
print("holding", count(), flush=True)
sys.stdin.readline()
print("inside", count(), flush=True)
conn.execute("COMMIT")
print("after", count(), flush=True)
"""


class Holder:
    """Another process holding a read (``BEGIN``) or write (``BEGIN IMMEDIATE``) transaction,
    as the sqlite3 shell or Datasette would."""

    def __init__(self, db: Path, begin: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), begin],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.seen = self._line("holding")

    def release(self) -> tuple[int, int]:
        """Commit; returns (items seen inside the transaction, items seen after it)."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        inside, after = self._line("inside"), self._line("after")
        assert self.process.wait(timeout=30) == 0
        return inside, after

    def _line(self, word: str) -> int:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line and line[0] == word, line
        return int(line[1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for holder in made:
        holder.kill()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_long_reader_does_not_block_polling(
    server: FeedServer, faults, holders: list[Holder]
) -> None:
    url = server.add("/ft.xml", (REPLAY / "ft-world-20250818.xml").read_bytes())
    run = faults({"Financial Times": [url]})
    run.poll()
    stored = run.count("items")
    # BEGIN then SELECT, left open: the snapshot a sqlite3 shell or a Datasette query holds
    reader = Holder(run.tracker.config.database, "BEGIN")
    holders.append(reader)
    server.add("/ft.xml", (REPLAY / "ft-world-20250819.xml").read_bytes())
    run.later(hours=1)
    started = time.monotonic()
    summary = run.poll()
    assert time.monotonic() - started < tracker.storage.base.BUSY_TIMEOUT_MS / 1000
    assert summary.count("error") == 0 and summary.items_new > 0
    inside, after = reader.release()
    assert inside == reader.seen == stored  # the reader's snapshot held still
    assert after == run.count("items") > stored  # and then it sees the new items


def test_a_writer_holding_the_lock_is_waited_for(
    faults, holders: list[Holder], monkeypatch
) -> None:
    monkeypatch.setattr(tracker.storage.base, "BUSY_TIMEOUT_MS", 20_000)
    run = faults({})
    holders.append(Holder(run.tracker.config.database, "BEGIN IMMEDIATE"))
    release_at = time.monotonic() + 1.5
    releaser = threading.Timer(1.5, holders[-1].release)
    releaser.start()
    try:
        summary = run.poll()
    finally:
        releaser.join()
    assert time.monotonic() >= release_at - 0.1
    assert summary.count("error") == 0 and run.count("items") == 123


def test_a_lock_held_past_the_busy_timeout_ends_the_cycle_with_one_error(
    faults, holders: list[Holder], monkeypatch
) -> None:
    monkeypatch.setattr(tracker.storage.base, "BUSY_TIMEOUT_MS", 1_000)
    run = faults({}, extra="  workers: 1\n")
    holders.append(Holder(run.tracker.config.database, "BEGIN IMMEDIATE"))
    started = time.monotonic()
    with pytest.raises(StorageError, match="locked for over 1 s") as error:
        run.tracker.poll(all_feeds=True)
    assert time.monotonic() - started < 10  # one wait, not one per feed
    assert "\n" not in str(error.value)
    # the feeds not started yet were not downloaded: at most the one the worker had taken
    hits = [run.server.hits(f"/healthy/{name}.xml") for name in ("guardian", "lemonde", "nbc")]
    assert sum(hits) <= 2, hits
    holders[-1].release()
    run.check_database()
    assert run.count("fetches") == 0 and run.count("items") == 0
    run.poll()  # once the lock is gone, the next cycle stores everything, once
    assert run.count("items") == 123


def test_a_full_disk_rolls_the_poll_back(faults) -> None:
    run = faults({})
    conn = run.tracker.store.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own limit stands in for a full disk: the next page it needs is refused
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StorageError, match="disk is full; the write was rolled back"):
        run.tracker.poll(all_feeds=True)
    assert not conn.in_transaction
    run.check_database()
    counts = run.tracker.store.counts()
    assert (counts["items"], counts["sightings"], counts["fetches"]) == (0, 0, 0)
    conn.execute("PRAGMA max_page_count = 1073741823")
    run.poll()
    assert run.count("items") == 123


def test_nothing_is_written_into_a_database_file_deleted_or_replaced_meanwhile(
    faults, tmp_path: Path
) -> None:
    """Issue 18 (the store's side of the service case in test_process.py): SQLite goes on
    writing the file it opened after it is deleted or replaced, so a poll's items went into a
    file nobody would read again. The store now refuses every write once its path leads
    elsewhere, with one StorageError saying so; the file now at the path is left alone."""
    run = faults({})
    run.poll()
    database = run.tracker.config.database
    backup = tmp_path / "backup.db"
    shutil.copy(database, backup)
    backup.replace(database)  # a backup put back while the tracker had the file open
    before = digest(database)
    run.later(hours=1)
    with pytest.raises(StorageError, match=r"replaced by another one .* nothing more is written"):
        run.tracker.poll(all_feeds=True)
    assert digest(database) == before
    database.unlink()
    with pytest.raises(StorageError, match="was deleted while the tracker had it open"):
        run.tracker.poll(all_feeds=True)
    assert not database.exists()


# --- prune beside polling ------------------------------------------------------------------------


def test_prune_keeps_the_items_a_poll_has_just_seen(
    server: FeedServer, faults, clock, monkeypatch
) -> None:
    """Issue 18: prune chose the items to delete, then deleted them in a later transaction
    without looking again, so a poll that marked them seen in between lost them (a running
    ``poll --all`` reported 9,000 items seen, 7,000 sightings remained, and the next poll
    brought the rest back as new). Here a poll from another connection commits its sightings
    just before each of prune's transactions begins: every item it saw must stay."""
    url = server.add("/ft.xml", (REPLAY / "ft-world-20250818.xml").read_bytes())
    run = faults({"Financial Times": [url]})
    run.poll()
    stored = run.count("items")
    # an hour later the feed lists its next snapshot: the items it keeps are seen again
    server.add("/ft.xml", (REPLAY / "ft-world-20250819.xml").read_bytes())
    run.later(hours=1)
    pruner = Tracker(load_config(run.tracker.config.path), clock=clock)
    store = pruner.store
    begin = store.transaction
    polled: list[CycleSummary] = []

    @contextmanager
    def poll_first() -> Iterator[None]:
        if not polled:
            polled.append(run.poll())  # commits before prune's transaction starts
        with begin():
            yield

    monkeypatch.setattr(store, "transaction", poll_first)
    try:
        report = pruner.prune("30min", vacuum=False)
    finally:
        pruner.close()
    (summary,) = polled
    ft = run.result(summary, url)
    assert ft.result == "ok" and ft.items_seen > 0, ft
    listed = ft.items_new + ft.items_updated + ft.items_seen
    kept = run.one(
        "SELECT count(*) AS n FROM sightings JOIN feeds ON feeds.id = sightings.feed_id "
        "JOIN items ON items.id = sightings.item_id "
        "WHERE feeds.url = ? AND sightings.last_seen_at = ?",
        (url, to_db(clock())),
    )
    assert kept["n"] == listed == 60  # every item of the poll is still there, seen by it
    # what no poll saw since the cutoff went: the healthy feeds (304) and the items FT dropped
    assert 0 < report.counts["items"] == stored + ft.items_new - run.count("items")
    run.check_database()


# --- a full disk at start-up ----------------------------------------------------------------------

#: in a mount namespace of its own (no other process sees the mount): a 1 MB tmpfs at $1 holding
#: a copy of the database $2, filled to the last byte, then each command of the rest, its exit
#: code and stderr written to the file $3
ON_A_FULL_DISK = """
set -u
mount -t tmpfs -o size=1m tmpfs "$1"
cp "$2" "$1/tracker.db"
dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
out=$3
shift 3
for command in "$@"; do
    echo "== $command" >> "$out"
    eval "$command" 2>> "$out" > /dev/null
    echo "exit $?" >> "$out"
done
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="mounts a small file system"
)
def test_a_full_disk_is_named_by_every_command(faults, tmp_path: Path) -> None:
    """Issue 18: on a full disk ``tracker run`` died with an ENOSPC traceback from the instance
    lock, and every other command, even ``query``, said "disk I/O error" (SQLite cannot create
    its -shm file even to read). Each now says the disk is full, in one line."""
    run = faults({})
    run.poll()
    run.tracker.close()
    mount = tmp_path / "full"
    mount.mkdir()
    config = tmp_path / "full.yaml"
    text = run.tracker.config.path.read_text(encoding="utf-8")
    config.write_text(
        text.replace(str(run.tracker.config.database), str(mount / "tracker.db")), "utf-8"
    )
    tracker = f"{sys.executable} -m tracker -c {config}"
    commands = {
        "run": f"{tracker} run",
        "query": f"{tracker} query 'SELECT count(*) FROM items'",
        "coverage": f"{tracker} coverage",
        "status": f"{tracker} status",
        "poll": f"{tracker} poll --all",
        "feeds list": f"{tracker} feeds list",
    }
    out = tmp_path / "out.txt"
    subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            ON_A_FULL_DISK,
            "sh",
            str(mount),
            str(run.tracker.config.database),
            str(out),
            *commands.values(),
        ],
        check=True,
        timeout=300,
    )
    results = out.read_text(encoding="utf-8").split("== ")[1:]
    assert len(results) == len(commands), results
    for name, result in zip(commands, results, strict=True):
        lines = result.strip().splitlines()[1:]
        assert lines[-1] == ("exit 4" if name == "status" else "exit 1"), (name, lines)
        assert len(lines) == 2 and lines[0].startswith("Error: "), (name, lines)
        assert "disk" in lines[0] and "is full" in lines[0], (name, lines[0])
        assert "I/O error" not in lines[0], (name, lines[0])


# --- start-up ------------------------------------------------------------------------------------


#: run as root, drop every capability, then exec the command: root then obeys file permissions
#: (as the owner) like anyone else (Linux). Done in the child, as threads make preexec_fn unsafe.
WITHOUT_CAPABILITIES = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for capability in range(64):
    if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; fails past the last one
        break
os.execv(sys.argv[1], sys.argv[1:])
"""


def cli_run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own, without root's power to ignore permissions."""
    command = [sys.executable, "-m", "tracker", "-c", str(config), *args]
    if os.geteuid() == 0:
        command = [sys.executable, "-c", WITHOUT_CAPABILITIES, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.skipif(sys.platform != "linux", reason="uses Linux capabilities when run as root")
def test_read_only_database_directory_is_a_clear_error_at_start_up(faults, tmp_path: Path) -> None:
    run = faults({})
    run.poll()
    run.tracker.close()
    directory = tmp_path / "readonly"
    directory.mkdir()
    database = directory / "tracker.db"
    shutil.copy(run.tracker.config.database, database)
    text = run.tracker.config.path.read_text(encoding="utf-8")
    config = tmp_path / "readonly.yaml"
    config.write_text(text.replace(str(run.tracker.config.database), str(database)), "utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    empty_config = tmp_path / "empty.yaml"
    empty_config.write_text(
        text.replace(str(run.tracker.config.database), str(empty / "t.db")), "utf-8"
    )
    before = digest(database)
    directory.chmod(0o555)  # the file stays writable; SQLite cannot create -wal and -shm
    empty.chmod(0o555)
    try:
        for command in (["poll"], ["coverage"], ["feeds", "list"]):
            result = cli_run(config, *command)
            assert_one_clear_line(result, str(database), "needs write access", str(directory))
        assert_one_clear_line(cli_run(empty_config, "init"), "cannot open database")
    finally:
        directory.chmod(0o755)
        empty.chmod(0o755)
    assert digest(database) == before
    assert [p.name for p in directory.iterdir()] == ["tracker.db"]
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("kind", ["a character device", "a directory", "a named pipe"])
def test_a_database_that_is_no_regular_file_is_refused_up_front(tmp_path: Path, kind: str) -> None:
    """Issue 18: ``database: /dev/null`` was opened as a database, and SQLite left a
    ``/dev/null-journal`` beside it (``tracker run`` a ``/dev/null.lock``). A database that is
    not a regular file is refused by config.yaml's check, before anything opens it: one line
    naming the key, exit 2, and no file created beside it."""
    target = {
        "a character device": Path("/dev/null"),
        "a directory": tmp_path / "db-dir",
        "a named pipe": tmp_path / "db-fifo",
    }[kind]
    if kind == "a directory":
        target.mkdir()
    elif kind == "a named pipe":
        os.mkfifo(target)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {target}\noutlets: []\n", encoding="utf-8")
    beside = [Path(f"{target}{suffix}") for suffix in ("-journal", "-wal", "-shm", ".lock")]
    assert not any(p.exists() for p in beside)
    try:
        for command in (["init"], ["poll"], ["status"], ["query", "SELECT 1"], ["run"]):
            result = cli_run(config, *command)
            # status exits 4 for a config it cannot use: "the state cannot be told"
            assert result.returncode == (4 if command == ["status"] else 2), (command, result)
            assert "Traceback" not in result.stderr, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (command, lines)
            assert f"database: {target} is {kind}, not a file" in lines[0], lines[0]
            assert not [p for p in beside if p.exists()], command
        # the Python API with a Config made by hand meets the same refusal in the store
        with pytest.raises(StorageError, match=f"{kind}, not a database file"):
            Store.open(target, create=True)
        assert not [p for p in beside if p.exists()]
    finally:
        for p in beside:  # what the tracker left before this was fixed
            if p.exists():
                p.unlink()


def _zero_page(name: str):
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        ).fetchone()[0]
        conn.close()
        data = bytearray(db.read_bytes())
        data[(page - 1) * page_size : page * page_size] = bytes(page_size)
        db.write_bytes(bytes(data))

    return damage


def _flip_schema_byte(db: Path) -> None:
    """One bit of a view's SQL in sqlite_master flipped, as a bad sector or a stray write
    would: SQLite cannot parse the schema, and its error message quotes the token, which is no
    longer UTF-8."""
    data = bytearray(db.read_bytes())
    at = data.index(b"SELECT", data.index(b'CREATE VIEW "coverage"'))
    data[at] |= 0x80
    db.write_bytes(bytes(data))


DAMAGE = {
    "garbage": lambda db: db.write_bytes(b"not a database at all " * 500),
    "truncated": lambda db: db.write_bytes(db.read_bytes()[: db.stat().st_size // 2]),
    "header": lambda db: db.write_bytes(b"\0" * 16 + db.read_bytes()[16:]),
    "items-page": _zero_page("items"),
    "index-page": _zero_page("idx_items_canonical_url"),
    "fts-page": _zero_page("items_fts_data"),
    # issue 18: a UnicodeDecodeError traceback from every command, run included
    "schema-text": _flip_schema_byte,
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damaged_database_is_a_clear_error_and_never_written(faults, damage: str) -> None:
    run = faults({})
    run.poll()
    run.tracker.close()
    database = run.tracker.config.database
    DAMAGE[damage](database)
    before = digest(database)
    config = str(run.tracker.config.path)
    for command in (["coverage"], ["poll", "--all"], ["feeds", "list"], ["init"]):
        result = CliRunner().invoke(cli, ["-c", config, *command])
        assert result.exit_code == 1, (command, result.output)
        assert "Traceback" not in result.output and result.exception is not None
        message = result.output.strip().splitlines()[-1]
        assert message.startswith("Error: ") and str(database) in message
        assert any(w in message for w in ("damaged", "not a usable tracker database")), message
        assert "restore a backup" in message or "not a database" in message, message
    assert digest(database) == before
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_damaged_schema_text_stops_status_and_run_with_one_line(faults) -> None:
    """Issue 18: with invalid UTF-8 in the schema, ``status`` exited 1 with a traceback (not
    4, "cannot tell") and ``tracker run`` died with a traceback too."""
    run = faults({})
    run.poll()
    run.tracker.close()
    database = run.tracker.config.database
    _flip_schema_byte(database)
    before = digest(database)
    config = run.tracker.config.path
    status = CliRunner().invoke(cli, ["-c", str(config), "status"])
    assert status.exit_code == 4, status.output
    assert "Traceback" not in status.output and "damaged" in status.output
    service = cli_run(config, "run")
    assert_one_clear_line(service, str(database), "damaged", "restore a backup")
    assert digest(database) == before


def test_a_poll_that_meets_damage_midway_stops_cleanly(faults) -> None:
    """Damage that appears while the tracker runs (the start-up check passed): the cycle ends
    with one storage error instead of a traceback, and nothing partial is committed."""
    run = faults({})
    store = run.tracker.store
    original = store.write_items

    def damaged(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    store.write_items = damaged  # type: ignore[method-assign]
    with pytest.raises(
        StorageError, match=r"database cannot be used \(database disk image is malformed\)"
    ):
        run.tracker.poll(all_feeds=True)
    store.write_items = original  # type: ignore[method-assign]
    assert run.count("items") == 0 and run.count("fetches") == 0
    run.poll()
    assert run.count("items") == 123
