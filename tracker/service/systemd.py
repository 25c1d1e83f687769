"""systemd's service notifications (``sd_notify``), without a dependency.

With ``Type=notify`` systemd knows when the service is ready, reloading or stopping, shows the
last cycle in ``systemctl status``, and with ``WatchdogSec=`` restarts a service whose heartbeat
stops. Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send ``READY=1``, ``STATUS=…``, ``WATCHDOG=1``, …; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1`` when it set a watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000
