"""Which process runs something, and whether that process has ended, from anywhere on its machine.

A token names this process as ``host/pid/machine-key``: the key holds the boot id and pid
namespace (pids mean the same only within both) and the process's start time (a pid reused by a
later process is not the same process). ``process_alive`` answers True or False only for a
token of this machine and pid namespace; from elsewhere it cannot tell (heartbeats cover that).

Public: nst-sweep tags its MLflow runs with the same token.
"""

from __future__ import annotations

import functools
import os
import socket


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


@functools.cache
def _machine() -> str:
    """Boot id and pid namespace: equal for two processes that see the same pids."""
    boot = _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:12]
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return f"{boot}.{namespace}"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot) on Linux; "" elsewhere; None if gone."""
    stat = _read(f"/proc/{pid}/stat")
    if stat:
        # Fields 3 (state) and 22; the command name (field 2) may hold spaces: count from its ")".
        fields = stat.rsplit(")", 1)[1].split()
        return None if fields[0] in "ZX" else fields[19]  # a zombie has ended
    if os.path.isdir("/proc/self"):
        return None  # Linux without /proc/<pid>: gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # another user's process
        pass
    return ""


def process_token(pid: int | None = None) -> str:
    """``host/pid/machine-key`` of this process (or of ``pid`` on this machine)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{pid}/{_machine()}.{_start_time(pid) or ''}"


def process_alive(token: str | None) -> bool | None:
    """Whether ``token``'s process still runs: True or False on its own machine (a pid reused by
    a later process counts as ended), None when that cannot be told from here.
    """
    if not token:
        return None
    host, _, rest = token.partition("/")
    pid_text, _, key = rest.partition("/")
    machine, _, started = key.rpartition(".")
    if host != socket.gethostname() or machine != _machine() or not pid_text.isdigit():
        return None
    now = _start_time(int(pid_text))
    return now is not None and not (started and now and now != started)


def process_ended(token: str | None) -> bool:
    """True only when ``token``'s process is known to have ended."""
    return process_alive(token) is False
