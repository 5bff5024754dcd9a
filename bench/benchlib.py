"""What bench/compare.py and bench/queue_bench.py share: how their children die with them, how
a signal stops them, free loopback ports, and medians with their range."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import statistics

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def stop_on_signals(prog: str) -> None:
    """SIGTERM and SIGHUP raise Interrupted; orphaned descendants (clients started through a
    /bin/sh launcher) become this process's children, to be reaped with wait4."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit(f"{prog}: prctl(PR_SET_CHILD_SUBREAPER) failed: " + os.strerror(ctypes.get_errno()))


def die_with_parent() -> None:
    """In a child before exec (preexec_fn): SIGKILL when the script dies, even by SIGKILL."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_range(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
