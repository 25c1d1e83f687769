"""The background service: run and status."""

from __future__ import annotations

from datetime import tzinfo

import click

from ..config import config_path
from ..errors import TrackerError
from ..service.logs import LEVELS, setup_logging
from ..service.service import Service
from ..service.status import EXIT_CODES as STATUS_EXIT_CODES
from ..service.status import UNKNOWN_EXIT_CODE, ServiceState, StatusReport
from ..textout import as_json, local_time, plural
from .base import State, TrackerCLIError, cli, feed_table, pass_state, reports_errors


@cli.command()
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    envvar="TRACKER_LOG_LEVEL",
    show_envvar=True,
    help="Least severe events logged to stderr.",
)
@pass_state
@reports_errors
def run(state: State, log_level: str) -> None:
    """Run the background service in the foreground, until SIGTERM or Ctrl-C.

    Every polling.dispatch_every it polls the due feeds through polling.workers workers, each
    feed with its own deadline; at digest.time it writes yesterday's digest (and at start-up the
    days missed while it was down). It records a heartbeat and a summary of each cycle for
    'tracker status' and logs one line per event to stderr (journald-friendly).

    \b
    SIGTERM / SIGINT  stop: feeds being polled get polling.grace_period to finish; exit 0
    SIGHUP            reload config.yaml (a bad file is reported and the old one kept)

    Only one service runs per database (a second one exits with an error); every other command
    keeps working beside it. See contrib/tracker.service to run it under systemd.

    Example: tracker run --log-level debug
    """
    setup_logging(log_level.lower())
    Service.from_config_file(config_path(state.config_option)).run()


@cli.command()
@click.option("--json", "as_json_", is_flag=True, help="Print JSON (for scripts and monitoring).")
@pass_state
def status(state: State, as_json_: bool) -> None:
    """Show whether the service is running, its last cycle, and each feed's health.

    Per feed, with the columns of 'tracker feeds list': state, last success, last result,
    consecutive errors, next poll (none for a disabled feed), items it listed. Times are local
    with the zone on a terminal, ISO 8601 in UTC in JSON and when piped.
    Exit code 0 when the service is running, 1 when it runs but its heartbeat stopped (stuck),
    3 when it is not running, 4 when that cannot be told (a bad config, no usable database),
    as LSB init scripts report status.

    Example: tracker status --json
    """
    try:
        with state.tracker() as t:
            report = t.status()
            tz = t.config.tz
    except TrackerError as exc:
        # not 1 or 2: a monitor must not read "stuck" or a config typo as a service state
        raise TrackerCLIError(str(exc), exit_code=UNKNOWN_EXIT_CODE) from None
    click.echo(as_json(report) if as_json_ else _status_text(report, tz))
    click.get_current_context().exit(STATUS_EXIT_CODES[report.service.state])


def _status_text(report: StatusReport, tz: tzinfo) -> str:
    lines = [_service_line(report.service, tz)]
    cycle = report.last_cycle
    if cycle:
        lines.append(
            f"last cycle: #{cycle.id} at {local_time(cycle.started_at, tz)}: "
            f"{plural(cycle.feeds_polled or 0, 'feed')} polled: {cycle.ok} ok, "
            f"{cycle.not_modified} not modified, {cycle.errors} failed; "
            f"{plural(cycle.items_new or 0, 'new item')}, {cycle.items_linked} linked; "
            f"{(cycle.duration_ms or 0) / 1000:.2f} s"
        )
    for digest in report.digests[:1]:
        outcome = "written" if digest.result == "ok" else f"FAILED: {digest.error}"
        lines.append(f"last digest: {digest.day} {outcome} ({digest.trigger})")
    t = report.totals
    lines.append(
        f"feeds: {t.enabled} enabled ({t.failing} failing, {t.due} due now), "
        f"{t.disabled} disabled; {plural(t.items, 'item')}; "
        f"next poll {local_time(t.next_poll_at, tz) or '-'}"
    )
    return "\n".join([*lines, "", feed_table(report.feeds, tz)])


def _service_line(s: ServiceState, tz: tzinfo) -> str:
    state = s.state
    if state == "never-started":
        return "service: never started (start it with 'tracker run')"
    if state in ("stopped",):
        return (
            f"service: stopped at {local_time(s.stopped_at, tz)} ({s.stop_reason}); "
            f"it ran from {local_time(s.started_at, tz)} as pid {s.pid}"
        )
    head = f"service: {state} (pid {s.pid}"
    if s.host:
        head += f" on {s.host}"
    if state in ("starting", "stopping") or s.run_id is None:
        return head + ")"
    line = (
        f"{head}), up since {local_time(s.started_at, tz)} ({_span(s.uptime_s)}), "
        f"last heartbeat {_span(s.heartbeat_age_s)} ago, "
        f"{plural(s.in_flight or 0, 'feed')} in flight"
    )
    if state == "unresponsive":
        line += "; it may be stuck: see its log (journalctl --user -u tracker)"
    return line


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(max(int(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
