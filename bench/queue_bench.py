#!/usr/bin/python3
"""Benchmark of the Redis queue mode next to file mode, on loopback (127.0.0.1) only.

    /usr/bin/python3 bench/queue_bench.py [--ids N] [--rounds R] [--build-dir DIR] [--out DIR]
    /usr/bin/python3 bench/queue_bench.py --tiny      # CI: 1 round of 2,000 ids, a few seconds

bench/run.sh runs it after compare.py (with --tiny when run.sh got --tiny).

What runs
---------
It starts, and stops at the end (also on errors, Ctrl-C, SIGTERM, SIGHUP):
  redis-server  on a free port: --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec,
                its files in the scratch folder; ready once it logs "Ready to accept connections".
                Not pinned (--redis-cpu to pin it): it is neither the client nor the API.
  mock          DIR/bin/koorelease mock --threads 1 --ca-out CA (and --no-track-ids when it has it,
                so that its memory stays flat), pinned to CPU 1 with taskset, as in compare.py.
DIR/bin/koorelease is copied to the scratch folder first, so that a rebuild of DIR during the run
cannot mix two builds. Every client (koorelease release / enqueue) is pinned to CPU 0 and talks
to https://localhost:PORT with --ca-file CA, the token (2,048 random characters) in KOOPHONE_TOKEN.

For N ids (--ids, default 100,000; ids i-<20 digits>, all distinct), interleaved over --rounds
(default 3), each round runs:
  file      release --input FILE --concurrency 32 --output J
  queue-1   FLUSHALL; enqueue (measured on its own: the "enqueue" row); then one worker,
            release --queue redis://127.0.0.1:P/koobench --drain --concurrency 32
  queue-2   FLUSHALL; enqueue; then two workers started together, --concurrency 16 each (the same
            32 connections in all); measured as a whole, from the first start to the last exit
  empty     one worker draining an empty queue: the fixed cost of --drain (startup, and the empty
            blocking read that tells it the queue is done)
A run succeeds only if every process exited with 0 and the journals (summed over the workers)
hold N lines, all "released"; for queue runs also XLEN koobench:results == N, XPENDING koobench
koorelease == 0 and XLEN koobench == 0 (acknowledged entries are deleted); for enqueue, XLEN
koobench == N. A failed run is recorded and shown, never averaged in, and makes the exit code 1.

Measured per run
----------------
  wall        from the start of the (first) process to the exit of the (last) one
  ids/s       N / wall
  client CPU  ru_utime + ru_stime from os.wait4 (summed over the workers)
  peak RSS    ru_maxrss from os.wait4 (the larger of the two workers)
  Redis CPU   utime + stime of redis-server from /proc/PID/stat, after minus before the run
              (its forked children, AOF rewrites, are recorded apart: cutime + cstime)
  mock CPU    the same for the mock (in the "CPUs busy" line: client + Redis + mock ÷ wall)
Each client is forked by a throwaway /bin/sh, not by this script, so that its ru_maxrss does not
start at this script's RSS (see compare.py, run_measured); the client, orphaned, is re-parented
to this script (PR_SET_CHILD_SUBREAPER) and reaped with wait4. The servers get PR_SET_PDEATHSIG
(SIGKILL), so they die with this script even if it is killed outright; so does a client running
then, killed by a watchdog /bin/sh that notices this script's end (see Watchdog).

Output: the table (median and min-max over the rounds, and each queue figure's ratio to the
file run of the same round: a ratio per round, then their median) in Markdown on stdout, and in
--out DIR (default bench/results/queue-<UTC yyyymmdd-HHMMSS>/): runs.json (every raw run, the
machine, Redis's per-command statistics of each queue run), table.json and table.md.

Standard library only. Linux only (taskset, wait4, /proc, prctl).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import Interrupted, die_with_parent, free_port, median_range, stop_on_signals

REPO = Path(__file__).resolve().parent.parent
CLIENT_CPU = "0"
SERVER_CPU = "1"
STREAM = "koobench"
GROUP = "koorelease"   # the default group of `release --queue`
CONCURRENCY = 32       # file and queue-1; queue-2 gets CONCURRENCY // 2 per worker
TOKEN_LENGTH = 2048
CASES = ["file", "queue-1", "queue-2", "empty"]
LABELS = {"file": "file (`--input`)",
          "queue-1": "queue, 1 worker",
          "queue-2": "queue, 2 workers",
          "enqueue": "`enqueue`",
          "empty": "queue, 1 worker, empty queue"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"queue_bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


class Servers:
    """redis-server and the mock: children of this script, each leading its own process group."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        self.live.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL to its group; the group only while its leader is not reaped."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                log(f"process {proc.pid} did not exit after SIGKILL")
        if proc in self.live:
            self.live.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.live):
            self.stop(proc, grace_s=3.0)


class Watchdog:
    """Kills the clients' process groups if this script dies, even by SIGKILL.

    A client is forked by a /bin/sh launcher (see Client), so it cannot get PR_SET_PDEATHSIG from
    here. Instead a /bin/sh waits for the end of a pipe only this script holds (the kernel closes
    it when this script dies, however it dies); it then kills the process groups listed in a file
    that this script keeps up to date: a group is listed from its launch until just before its
    client is reaped (while listed, its id cannot name anyone else's processes)."""

    def __init__(self, work: Path, remove_work: bool) -> None:
        self.file = work / "client-groups"
        self.groups: set[int] = set()
        self._write()
        # No PR_SET_PDEATHSIG here: the watchdog must outlive this script to do its job. It also
        # removes the scratch folder when it is this script's own.
        self.proc = subprocess.Popen(["/bin/sh", "-c", 'read _; while read g; do kill -KILL "-$g" 2>/dev/null; '
                                      'done <"$0"; [ -z "$1" ] || rm -rf -- "$1"', str(self.file),
                                      str(work) if remove_work else ""], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _write(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text("".join(f"{g}\n" for g in sorted(self.groups)))
        tmp.replace(self.file)

    def add(self, group: int) -> None:
        self.groups.add(group)
        self._write()

    def remove(self, group: int) -> None:
        self.groups.discard(group)
        self._write()

    def stop(self) -> None:
        self.proc.stdin.close()  # EOF: it kills what is still listed (nothing, normally) and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class OutputWatcher:
    """Copies a server's stdout to a log file, and tells when a line matches a pattern."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, pattern: str) -> None:
        self.proc = proc
        self.pattern = re.compile(pattern)
        self.match: re.Match | None = None
        self.ready = threading.Event()
        self.log_path = log_path
        self.thread = threading.Thread(target=self._copy, daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        with open(self.log_path, "wb") as f:
            for line in self.proc.stdout:
                f.write(line)
                f.flush()
                if not self.ready.is_set():
                    m = self.pattern.search(line.decode(errors="replace"))
                    if m:
                        self.match = m
                        self.ready.set()
        self.ready.set()  # EOF: the process is gone; wait() sees no match

    def wait(self, timeout_s: float) -> re.Match | None:
        self.ready.wait(timeout_s)
        return self.match


class Client:
    """One client process, forked by a throwaway /bin/sh (so its ru_maxrss is its own)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], work: Path,
                 watchdog: Watchdog) -> None:
        self.name = name
        self.watchdog = watchdog
        self.command = command
        self.env = env
        self.out = work / f"{name}.stdout"
        self.err = work / f"{name}.stderr"
        self.pid = 0
        self.group = 0
        self.ended = threading.Event()
        self.end = 0.0
        self.reaped = False
        self.exit_code: int | None = None
        self.usage = None

    def launch(self) -> None:
        pid_file = self.out.with_suffix(".pid")
        pid_file.unlink(missing_ok=True)
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            launcher = subprocess.Popen(["/bin/sh", "-c", '"$@" & echo $! >"$0"', str(pid_file)] + self.command,
                                        start_new_session=True, preexec_fn=die_with_parent,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env)
        self.group = launcher.pid  # the client's process group (the launcher made a new session)
        self.watchdog.add(self.group)
        launcher.wait()
        self.pid = int(pid_file.read_text())
        pid_file.unlink()
        threading.Thread(target=self._wait_exit, daemon=True).start()

    def _wait_exit(self) -> None:
        try:  # wait without reaping, so that the group can still be signalled safely
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self.end = time.monotonic()
        self.ended.set()

    def kill(self) -> None:
        if self.group and not self.reaped:  # a zombie still holds its group id: safe
            try:
                os.killpg(self.group, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        if self.pid and not self.reaped:
            self.watchdog.remove(self.group)
            _, status, self.usage = os.wait4(self.pid, 0)
            self.reaped = True
            self.exit_code = os.waitstatus_to_exitcode(status)

    def stderr_text(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def stdout_text(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""


def run_clients(clients: list[Client], timeout_s: float) -> tuple[float, float, bool]:
    """Starts the clients together, waits for all, reaps them; returns (start, wall, timed out)."""
    start = time.monotonic()
    timed_out = False
    try:
        for c in clients:
            c.launch()
        deadline = start + timeout_s
        for c in clients:
            if not c.ended.wait(max(0.0, deadline - time.monotonic())):
                timed_out = True
                break
        if timed_out:
            for c in clients:
                c.kill()
        for c in clients:
            if c.pid:
                c.ended.wait(10)
        wall = max((c.end for c in clients if c.end), default=time.monotonic()) - start
        for c in clients:
            c.reap()
    except BaseException:  # Ctrl-C, SIGTERM, launch failure: the clients go too
        for c in clients:
            c.kill()
        for c in clients:
            try:
                c.reap()
            except ChildProcessError:
                pass
        raise
    return start, wall, timed_out


def proc_cpu(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) of a process, in seconds, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime..cstime are fields 14..17
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


# ---------------------------------------------------------------------------------------------
# Redis, through its protocol (RESP2) on a plain socket


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __call__(self, *args):
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self):
        line = self.reader.readline()
        if not line:
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.reader.read(n + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")

    def info(self, section: str) -> dict[str, str]:
        out = {}
        for line in self("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def commandstats(self) -> dict[str, dict]:
        """{command: {calls, usec}} from INFO commandstats."""
        stats = {}
        for k, v in self.info("commandstats").items():
            fields = dict(x.split("=", 1) for x in v.split(","))
            stats[k.removeprefix("cmdstat_")] = {"calls": int(fields["calls"]), "usec": int(fields["usec"])}
        return stats


# ---------------------------------------------------------------------------------------------
# The benchmark


def summary_counts(stderr: str) -> dict:
    """The numbers of koorelease's end-of-run summary on stderr."""
    out = {}
    m = re.search(r"(\d+) ids: (\d+) released, (\d+) failed", stderr)
    if m:
        out.update(summary_ids=int(m.group(1)), released=int(m.group(2)), failed=int(m.group(3)))
    m = re.search(r"(\d+) requests \((\d+) retries, (\d+) throttled\) on (\d+) connections.* in ([\d.]+) s", stderr)
    if m:
        out.update(requests=int(m.group(1)), retries=int(m.group(2)), throttled=int(m.group(3)),
                   connections=int(m.group(4)), own_seconds=float(m.group(5)))
    m = re.search(r"queue: (\d+) entries read, (\d+) claimed", stderr)
    if m:
        out.update(entries_read=int(m.group(1)), claimed=int(m.group(2)))
    return out


def journal_counts(path: Path) -> tuple[int, int]:
    """(lines, lines whose outcome is released), read line by line (never all in memory)."""
    lines = released = 0
    if path.exists():
        with open(path, "rb") as f:
            for line in f:
                lines += 1
                if b'"outcome":"released"' in line:
                    released += 1
    return lines, released


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, out: Path, own_work: bool) -> None:
        self.args = args
        self.work = work
        self.out = out
        # A copy: a rebuild of the build folder during the run cannot mix two builds.
        self.koorelease_built = Path(args.build_dir) / "bin" / "koorelease"
        self.koorelease = work / "koorelease"
        shutil.copy2(self.koorelease_built, self.koorelease)
        self.servers = Servers()
        self.watchdog = Watchdog(work, own_work)
        self.runs: list[dict] = []
        self.meta: dict = {}
        self.token = "".join(secrets.choice(string.ascii_letters + string.digits + "-_")
                             for _ in range(TOKEN_LENGTH))
        self.ca = work / "mock-ca.pem"
        self.ids = work / "ids.txt"
        self.redis_proc: subprocess.Popen | None = None
        self.redis_port = 0
        self.redis: Redis | None = None
        self.mock_proc: subprocess.Popen | None = None
        self.mock_port = 0
        self.mock_command: list[str] = []
        self.redis_command: list[str] = []

    # -- set-up -------------------------------------------------------------------------------

    def env(self, token: bool) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if k not in ("KOOPHONE_TOKEN", "KOORELEASE_REDIS_PASSWORD")}
        e["LC_ALL"] = "C"
        if token:
            e["KOOPHONE_TOKEN"] = self.token
        return e

    def help_text(self, command: str) -> str:
        done = subprocess.run([str(self.koorelease), command, "--help"], capture_output=True, text=True,
                              env=self.env(False))
        return done.stdout + done.stderr

    def write_ids(self) -> None:
        with open(self.ids, "w", buffering=1 << 20) as f:
            for start in range(0, self.args.ids, 100_000):
                f.write("".join(f"i-{i:020d}\n" for i in range(start, min(self.args.ids, start + 100_000))))

    def start_redis(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        data = self.work / "redis"
        data.mkdir(exist_ok=True)
        for attempt in range(3):  # the free port may be taken by someone else before Redis binds it
            port = free_port()
            command = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "yes",
                       "--appendfsync", "everysec", "--dir", str(data), "--daemonize", "no"]
            if self.args.redis_cpu:
                command = ["taskset", "-c", self.args.redis_cpu] + command
            proc = self.servers.start(command)
            watcher = OutputWatcher(proc, self.work / "redis.log", r"Ready to accept connections")
            if watcher.wait(15):
                self.redis_proc, self.redis_port, self.redis_command = proc, port, command
                self.redis = Redis(port)
                log(f"redis-server on 127.0.0.1:{port} (pid {proc.pid}"
                    f"{', CPU ' + self.args.redis_cpu if self.args.redis_cpu else ', not pinned'}, appendonly)")
                return
            self.servers.stop(proc)
            watcher.thread.join(5)
            text = (self.work / "redis.log").read_text(errors="replace")
            if "Address already in use" not in text or attempt == 2:
                raise SystemExit(f"queue_bench: redis-server did not start:\n{text[-2000:]}")

    def start_mock(self) -> None:
        command = ["taskset", "-c", SERVER_CPU, str(self.koorelease), "mock", "--listen", "127.0.0.1:0",
                   "--threads", "1", "--ca-out", str(self.ca)]
        if "--no-track-ids" in self.help_text("mock"):
            command.append("--no-track-ids")
        proc = self.servers.start(command, env=self.env(True))
        watcher = OutputWatcher(proc, self.work / "mock.log", r"listening on https://127\.0\.0\.1:(\d+)")
        m = watcher.wait(15)
        if not m:
            self.servers.stop(proc)
            watcher.thread.join(5)
            raise SystemExit("queue_bench: koorelease mock did not start:\n" +
                             (self.work / "mock.log").read_text(errors="replace")[-2000:])
        self.mock_proc, self.mock_port, self.mock_command = proc, int(m.group(1)), command
        log(f"koorelease mock on 127.0.0.1:{self.mock_port} (1 thread, CPU {SERVER_CPU})")

    def mock_call(self, method: str, path: str) -> dict:
        context = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection("localhost", self.mock_port, context=context, timeout=10)
        try:
            conn.request(method, path, headers={"x-auth-token": self.token})
            answer = conn.getresponse()
            body = answer.read()
        finally:
            conn.close()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status}")
        return json.loads(body) if body.strip().startswith(b"{") else {}

    def describe(self) -> dict:
        def first_line(command: list[str]) -> str:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=10)
                return (done.stdout or done.stderr).strip().splitlines()[0]
            except Exception:
                return "?"
        cpu = "?"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        return {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "debian": Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?",
            "redis": first_line([shutil.which("redis-server") or "/usr/bin/redis-server", "--version"]),
            "koorelease": first_line([str(self.koorelease), "--version"]),
            "binary": str(self.koorelease_built),
            "binary_sha256": hashlib.sha256(self.koorelease.read_bytes()).hexdigest(),
            "binary_mtime_utc": datetime.datetime.fromtimestamp(self.koorelease.stat().st_mtime,
                                                                datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "git": first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "ids": self.args.ids, "rounds": self.args.rounds,
            "redis_command": self.redis_command, "mock_command": self.mock_command,
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
            "invocation": os.environ.get("BENCH_INVOCATION") or
                          " ".join(["/usr/bin/python3", "bench/queue_bench.py"] + sys.argv[1:]),
        }

    # -- runs ---------------------------------------------------------------------------------

    def queue_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{STREAM}"

    def release_command(self, journal: Path, concurrency: int, queue: bool) -> list[str]:
        source = ["--queue", self.queue_url(), "--drain"] if queue else ["--input", str(self.ids)]
        return ["taskset", "-c", CLIENT_CPU, str(self.koorelease), "release"] + source + [
            "--endpoint", f"https://localhost:{self.mock_port}", "--ca-file", str(self.ca),
            "--output", str(journal), "--force", "--concurrency", str(concurrency), "-q"]

    def measure(self, case: str, rnd: int, commands: list[list[str]], token: bool, expected_s: float) -> dict:
        """Runs the commands together on CPU 0 and records what the kernel says about them."""
        run = {"case": case, "round": rnd, "ok": False, "problems": [], "ids": self.args.ids,
               "commands": commands, "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
        clients = [Client(f"{case}-{i}", c, self.env(token), self.work, self.watchdog)
                   for i, c in enumerate(commands)]
        try:
            self.mock_call("POST", "/mock/reset")
        except Exception as e:
            run["problems"].append(f"POST /mock/reset: {e}")
        redis_before, redis_children_before = proc_cpu(self.redis_proc.pid)
        mock_before, _ = proc_cpu(self.mock_proc.pid)
        start, wall, timed_out = run_clients(clients, 60 + 4 * expected_s)
        redis_after, redis_children_after = proc_cpu(self.redis_proc.pid)
        mock_after, _ = proc_cpu(self.mock_proc.pid)
        run.update(
            wall_s=wall,
            user_s=sum(c.usage.ru_utime for c in clients if c.usage),
            sys_s=sum(c.usage.ru_stime for c in clients if c.usage),
            maxrss_kb=max((c.usage.ru_maxrss for c in clients if c.usage), default=0),
            redis_cpu_s=redis_after - redis_before,
            redis_children_cpu_s=redis_children_after - redis_children_before,
            mock_cpu_s=mock_after - mock_before,
            processes=[{"exit_code": c.exit_code, "user_s": c.usage.ru_utime if c.usage else None,
                        "sys_s": c.usage.ru_stime if c.usage else None,
                        "maxrss_kb": c.usage.ru_maxrss if c.usage else None,
                        "wall_s": c.end - start if c.end else None,
                        "summary": summary_counts(c.stderr_text()),
                        "stderr_tail": c.stderr_text().strip().splitlines()[-6:],
                        "stdout": c.stdout_text().strip()[-500:]} for c in clients])
        if timed_out:
            run["problems"].append(f"timed out after {60 + 4 * expected_s:.0f} s (killed)")
        for i, c in enumerate(clients):
            if c.exit_code != 0:
                tail = " | ".join(c.stderr_text().strip().splitlines()[-3:])
                run["problems"].append(f"process {i}: exit code {c.exit_code}: {tail}")
        try:
            stats = self.mock_call("GET", "/mock/stats")
            run["mock_stats"] = {k: stats[k] for k in ("requests", "by_status", "by_error_code", "released",
                                                       "missing_request_id", "dropped") if k in stats}
        except Exception as e:
            run["mock_stats"] = {"error": str(e)}
        return run

    def check_journals(self, run: dict, journals: list[Path], expected: int) -> None:
        counts = [journal_counts(j) for j in journals]
        run["journal_lines"] = [c[0] for c in counts]
        run["journal_released"] = [c[1] for c in counts]
        lines, released = sum(c[0] for c in counts), sum(c[1] for c in counts)
        if lines != expected:
            run["problems"].append(f"journal lines {lines} (expected {expected})")
        if released != expected:
            run["problems"].append(f"journal lines with outcome released {released} (expected {expected})")
        for j in journals:
            j.unlink(missing_ok=True)

    def check_queue(self, run: dict, expected_results: int) -> None:
        r = self.redis
        q = {"xlen_results": r("XLEN", f"{STREAM}:results"), "xlen_stream": r("XLEN", STREAM)}
        try:
            q["xpending"] = r("XPENDING", STREAM, GROUP)[0]
        except RedisError as e:  # NOGROUP: no worker ever made the group
            q["xpending"] = None if expected_results else 0
            q["xpending_error"] = str(e)
        q["counts"] = dict(zip(*[iter(r("HGETALL", f"{STREAM}:counts") or [])] * 2))
        q["xlen_dead"] = r("XLEN", f"{STREAM}:dead")
        run["redis"] = q
        if q["xlen_results"] != expected_results:
            run["problems"].append(f"XLEN {STREAM}:results = {q['xlen_results']} (expected {expected_results})")
        if q["xpending"] != 0:
            run["problems"].append(f"XPENDING {STREAM} {GROUP} = {q['xpending']} (expected 0)")
        if q["xlen_stream"] != 0:
            run["problems"].append(f"XLEN {STREAM} = {q['xlen_stream']} after the drain (expected 0)")

    def finish(self, run: dict) -> dict:
        run["ok"] = not run["problems"]
        ids = run["ids"]
        cpu = run["user_s"] + run["sys_s"]
        run.update(ids_per_s=ids / run["wall_s"] if run["wall_s"] > 0 and ids else 0.0,
                   client_cpu_s=cpu,
                   client_cpu_us_per_id=cpu / ids * 1e6 if ids else 0.0,
                   redis_cpu_us_per_id=run["redis_cpu_s"] / ids * 1e6 if ids else 0.0,
                   peak_rss_mb=run["maxrss_kb"] / 1024)
        label = f"{run['case']}#{run['round']}"
        if run["ok"]:
            log(f"{label}: {run['ids_per_s']:,.0f} ids/s ({ids:,} ids in {run['wall_s']:.2f} s), client CPU "
                f"{cpu:.2f} s, Redis CPU {run['redis_cpu_s']:.2f} s, peak RSS {run['peak_rss_mb']:.1f} MB")
        else:
            log(f"{label}: FAILED: {'; '.join(run['problems'])}")
        self.runs.append(run)
        self.write_runs()
        time.sleep(self.args.settle)  # let the mock close the client's connections
        return run

    def fresh_queue(self) -> None:
        self.redis("FLUSHALL")
        self.redis("CONFIG", "RESETSTAT")  # per-command statistics of this run alone

    def enqueue(self, rnd: int, before: str) -> bool:
        command = ["taskset", "-c", CLIENT_CPU, str(self.koorelease), "enqueue", "--queue", self.queue_url(),
                   str(self.ids)]
        run = self.measure("enqueue", rnd, [command], token=False, expected_s=self.args.ids / 50_000)
        run["before"] = before
        run.pop("mock_stats", None)
        commandstats = self.redis.commandstats()
        xlen = self.redis("XLEN", STREAM)
        run["redis"] = {"xlen_stream": xlen, "commandstats": commandstats}
        if xlen != self.args.ids:
            run["problems"].append(f"XLEN {STREAM} = {xlen} after enqueue (expected {self.args.ids})")
        said = re.search(r"(\d+)\s*$", run["processes"][0]["stdout"])
        if not said or int(said.group(1)) != self.args.ids:
            run["problems"].append(f"enqueue printed {run['processes'][0]['stdout']!r} (expected {self.args.ids})")
        self.redis("CONFIG", "RESETSTAT")
        return self.finish(run)["ok"]

    def file_run(self, rnd: int) -> None:
        journal = self.work / "journal-file.jsonl"
        run = self.measure("file", rnd, [self.release_command(journal, CONCURRENCY, False)], True,
                           self.args.ids / 10_000)
        self.check_journals(run, [journal], self.args.ids)
        self.finish(run)

    def queue_run(self, rnd: int, workers: int) -> None:
        case = f"queue-{workers}"
        self.fresh_queue()
        if not self.enqueue(rnd, case):
            run = {"case": case, "round": rnd, "ids": self.args.ids, "problems": ["enqueue failed"],
                   "wall_s": 0.0, "user_s": 0.0, "sys_s": 0.0, "maxrss_kb": 0, "redis_cpu_s": 0.0}
            self.finish(run)
            return
        journals = [self.work / f"journal-{case}-{i}.jsonl" for i in range(workers)]
        commands = [self.release_command(j, CONCURRENCY // workers, True) for j in journals]
        run = self.measure(case, rnd, commands, True, self.args.ids / 5_000)
        commandstats = self.redis.commandstats()  # before this script's own commands below
        self.check_journals(run, journals, self.args.ids)
        self.check_queue(run, self.args.ids)
        run["redis"]["commandstats"] = commandstats
        self.finish(run)

    def empty_run(self, rnd: int) -> None:
        self.fresh_queue()
        journal = self.work / "journal-empty.jsonl"
        run = self.measure("empty", rnd, [self.release_command(journal, CONCURRENCY, True)], True, 1)
        run["ids"] = 0
        self.check_journals(run, [journal], 0)
        self.check_queue(run, 0)
        self.finish(run)

    def write_runs(self) -> None:
        data = {"meta": self.meta, "runs": self.runs}
        tmp = self.out / "runs.json.tmp"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.out / "runs.json")

    def run_all(self) -> None:
        for rnd in range(1, self.args.rounds + 1):
            log(f"round {rnd} of {self.args.rounds}")
            self.file_run(rnd)
            self.queue_run(rnd, 1)
            self.queue_run(rnd, 2)
            self.empty_run(rnd)


# ---------------------------------------------------------------------------------------------
# The table


def fmt(m: dict | None, digits: int, suffix: str = "") -> str:
    if not m:
        return "–"
    f = f"{{:,.{digits}f}}"
    if m["n"] == 1 or f.format(m["min"]) == f.format(m["max"]):
        return f.format(m["median"]) + suffix
    return f"{f.format(m['median'])}{suffix} ({f.format(m['min'])}–{f.format(m['max'])})"


def build_table(bench: Bench) -> tuple[dict, str]:
    runs = bench.runs
    ok = [r for r in runs if r["ok"]]
    file_by_round = {r["round"]: r for r in ok if r["case"] == "file"}

    def ratio(case: str, key: str) -> dict | None:
        values = []
        for r in ok:
            f = file_by_round.get(r["round"])
            if r["case"] == case and f and f[key]:
                values.append(r[key] / f[key])
        return median_range(values)

    rows = []
    for case in ["file", "queue-1", "queue-2", "enqueue", "empty"]:
        mine = [r for r in ok if r["case"] == case]
        total = [r for r in runs if r["case"] == case]
        both = [(r["client_cpu_s"] + r["redis_cpu_s"]) / r["ids"] * 1e6 for r in mine if r["ids"]]
        row = {"case": case, "label": LABELS[case], "runs_ok": len(mine), "runs": len(total),
               "wall_s": median_range([r["wall_s"] for r in mine]),
               "ids_per_s": median_range([r["ids_per_s"] for r in mine]) if case != "empty" else None,
               "client_cpu_us_per_id": median_range([r["client_cpu_us_per_id"] for r in mine]) if case != "empty" else None,
               "client_cpu_s": median_range([r["client_cpu_s"] for r in mine]),
               "redis_cpu_us_per_id": median_range([r["redis_cpu_us_per_id"] for r in mine]) if case != "empty" else None,
               "client_plus_redis_us_per_id": median_range(both) if case != "empty" else None,
               "peak_rss_mb": median_range([r["peak_rss_mb"] for r in mine]),
               "ratio_ids_per_s": ratio(case, "ids_per_s") if case.startswith("queue") else None,
               "ratio_cpu_per_id": ratio(case, "client_cpu_us_per_id") if case.startswith("queue") else None}
        if case.startswith("queue"):
            values = []
            for r in mine:
                f = file_by_round.get(r["round"])
                if f:
                    values.append(((r["client_cpu_s"] + r["redis_cpu_s"]) / r["ids"]) /
                                  ((f["client_cpu_s"] + f["redis_cpu_s"]) / f["ids"]))
            row["ratio_client_plus_redis_per_id"] = median_range(values)
        rows.append(row)

    # Where the queue's Redis time goes: per-command statistics of the 1-worker drains.
    commands: dict[str, dict[str, list[float]]] = {}
    for r in ok:
        if r["case"] == "queue-1":
            for name, s in r.get("redis", {}).get("commandstats", {}).items():
                c = commands.setdefault(name, {"calls_per_1000_ids": [], "usec_per_id": []})
                c["calls_per_1000_ids"].append(s["calls"] / r["ids"] * 1000)
                c["usec_per_id"].append(s["usec"] / r["ids"])
    command_rows = sorted(({"command": k, "calls_per_1000_ids": statistics.median(v["calls_per_1000_ids"]),
                            "usec_per_id": statistics.median(v["usec_per_id"])} for k, v in commands.items()),
                          key=lambda x: -x["usec_per_id"])
    # The workers' own clocks (first request to last answer) against the wall time.
    own = {}
    for case in ("file", "queue-1"):
        v = [r["wall_s"] - max(p["summary"].get("own_seconds", 0) for p in r["processes"])
             for r in ok if r["case"] == case]
        own[case] = median_range(v)
    splits = [r["journal_lines"] for r in ok if r["case"] == "queue-2"]
    busy = {case: median_range([(r["client_cpu_s"] + r["redis_cpu_s"] + r["mock_cpu_s"]) / r["wall_s"]
                                for r in ok if r["case"] == case and r["wall_s"] > 0])
            for case in ("file", "queue-1", "queue-2")}
    empty_by_round = {r["round"]: r for r in ok if r["case"] == "empty"}
    tail_rates, tail_ratios = [], []
    for r in ok:
        e, f = empty_by_round.get(r["round"]), file_by_round.get(r["round"])
        if r["case"] == "queue-1" and e and r["wall_s"] > e["wall_s"]:
            tail_rates.append(r["ids"] / (r["wall_s"] - e["wall_s"]))
            if f:
                tail_ratios.append(tail_rates[-1] / f["ids_per_s"])
    no_tail, no_tail_ratio = median_range(tail_rates), median_range(tail_ratios)

    m = bench.meta
    md = [f"Redis queue mode vs file mode: {m['ids']:,} ids, {m['rounds']} round(s) "
          f"({m['cpus']} CPUs ({m['cpu_model']}), Linux {m['kernel']}, Debian {m['debian']}; "
          f"{m['redis'].split(' sha=')[0]}, appendonly everysec; {m['koorelease']} ({m['git']}, binary of "
          f"{m['binary_mtime_utc']} UTC); {m['date_utc']}; load average at the start "
          f"{' '.join(m['loadavg_start'])}).",
          "",
          f"Command: `{m['invocation']}`. koorelease mock (1 thread) on CPU 1, every client on CPU 0, "
          f"redis-server {'on CPU ' + bench.args.redis_cpu if bench.args.redis_cpu else 'not pinned'}. "
          f"{CONCURRENCY} connections in all: file and 1 worker `--concurrency {CONCURRENCY}`, 2 workers "
          f"{CONCURRENCY // 2} each. `enqueue` is timed on its own, before each queue run; the empty queue "
          "run is the fixed cost of `--drain`. Median (min–max) over the rounds; × file: the ratio to the "
          "file run of the same round.",
          "",
          "| mode | ids/s | × file | wall s | client CPU µs/id | × file | Redis CPU µs/id | client+Redis µs/id | × file | peak RSS MB | runs ok |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        rr = row.get("ratio_client_plus_redis_per_id")
        md.append(f"| {row['label']} | {fmt(row['ids_per_s'], 0)} | {fmt(row['ratio_ids_per_s'], 2, '×')} | "
                  f"{fmt(row['wall_s'], 2)} | {fmt(row['client_cpu_us_per_id'], 1)} | "
                  f"{fmt(row['ratio_cpu_per_id'], 2, '×')} | {fmt(row['redis_cpu_us_per_id'], 1)} | "
                  f"{fmt(row['client_plus_redis_us_per_id'], 1)} | {fmt(rr, 2, '×')} | "
                  f"{fmt(row['peak_rss_mb'], 1)} | {row['runs_ok']}/{row['runs']} |")
    md.append("")
    if command_rows:
        md.append("Redis's own accounting (`INFO commandstats`) of a 1-worker drain, median over the rounds. "
                  "The commands a Lua script runs are counted on their own and again in its `evalsha`; "
                  "the per-call overhead (network, parsing) is in neither.")
        md.append("")
        md.append("| command | calls per 1,000 ids | Redis µs/id |")
        md.append("|---|---:|---:|")
        for c in command_rows[:8]:
            md.append(f"| {c['command']} | {c['calls_per_1000_ids']:,.1f} | {c['usec_per_id']:.2f} |")
        md.append("")
    if own.get("queue-1"):
        md.append(f"Wall time outside the client's own clock (the \"in X s\" of its summary: process start, "
                  f"reading the input or connecting to Redis, exit): file {fmt(own['file'], 2)} s, "
                  f"queue 1 worker {fmt(own['queue-1'], 2)} s.")
    if busy.get("file"):
        md.append("CPUs busy during the run (client + Redis + mock CPU time ÷ wall time, of "
                  f"{m['cpus']}): " + ", ".join(f"{LABELS[k]} {fmt(v, 2)}" for k, v in busy.items() if v) + ".")
    if no_tail:
        md.append(f"Without the fixed cost of `--drain` (the empty-queue run of the same round subtracted "
                  f"from the wall time), 1 worker: {fmt(no_tail, 0)} ids/s, {fmt(no_tail_ratio, 2, '×')} file's.")
    if splits:
        md.append(f"Ids per worker with 2 workers: {'; '.join(' + '.join(f'{x:,}' for x in s) for s in splits)}.")
    failed = [r for r in runs if not r["ok"]]
    for r in failed:
        md.append(f"- FAILED {r['case']}#{r['round']}: {'; '.join(r['problems'])}")
    md.append("")
    table = {"meta": m, "rows": rows, "redis_commands_queue_1": command_rows, "outside_own_clock_s": own,
             "queue_1_without_drain_cost": {"ids_per_s": no_tail, "ratio_to_file": no_tail_ratio},
             "queue_2_split": splits, "cpus_busy": busy, "failed": [f"{r['case']}#{r['round']}" for r in failed]}
    return table, "\n".join(md)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark of the Redis queue mode next to file mode, on loopback. "
                                            "What is measured and how: the docstring of bench/queue_bench.py.")
    p.add_argument("--tiny", action="store_true", help="CI smoke test: 1 round of 2,000 ids")
    p.add_argument("--ids", type=int, help="ids per run (default 100000, --tiny 2000)")
    p.add_argument("--rounds", type=int, help="rounds (default 3, --tiny 1)")
    p.add_argument("--build-dir", default="build-bench", help="where bin/koorelease is (default build-bench)")
    p.add_argument("--out", help="results folder (default bench/results/queue-<UTC yyyymmdd-HHMMSS>)")
    p.add_argument("--work-dir", help="scratch folder (default: a new temporary one, removed at the end)")
    p.add_argument("--redis-cpu", default="", help="pin redis-server to these CPUs (taskset -c; default: not pinned)")
    p.add_argument("--settle", type=float, help="seconds of pause after each run (default 0.5, --tiny 0.1)")
    a = p.parse_args(argv)
    a.ids = a.ids or (2_000 if a.tiny else 100_000)
    a.rounds = a.rounds or (1 if a.tiny else 3)
    a.settle = a.settle if a.settle is not None else (0.1 if a.tiny else 0.5)
    if a.ids <= 0 or a.rounds <= 0:
        p.error("--ids and --rounds must be positive")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    build = Path(args.build_dir)
    if not build.is_absolute() and not build.exists():
        build = REPO / build  # relative to the repository, as run.sh passes it
    args.build_dir = str(build)
    koorelease = build / "bin" / "koorelease"
    if not koorelease.exists():
        raise SystemExit(f"queue_bench: {koorelease} not found (bench/run.sh builds it)")
    if "enqueue" not in subprocess.run([str(koorelease), "--help"], capture_output=True, text=True).stdout:
        raise SystemExit(f"queue_bench: {koorelease} has no enqueue command (an older build?)")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"queue-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="koorelease-queue-bench-")) if own_work else Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    stop_on_signals("queue_bench")  # the clients, orphaned by their /bin/sh launcher: wait4

    bench = Bench(args, work, out, own_work)
    code = 1
    try:
        bench.write_ids()
        bench.start_redis()
        bench.start_mock()
        bench.meta = bench.describe()
        bench.write_runs()
        bench.run_all()
        bench.meta["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        table, md = build_table(bench)
        (out / "table.json").write_text(json.dumps(table, indent=1) + "\n")
        (out / "table.md").write_text(md)
        bench.write_runs()
        print(md)
        failed = [r for r in bench.runs if not r["ok"]]
        if failed:
            log(f"FAILED: {len(failed)} of {len(bench.runs)} runs failed; see {out}/runs.json")
        else:
            code = 0
            log(f"all {len(bench.runs)} runs succeeded in {time.monotonic() - started:.0f} s")
        print(f"results: {out}")
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({str(e) or 'SIGINT'}); stopping; the runs so far are in {out}/runs.json")
        code = 130
    finally:
        if bench.redis:
            bench.redis.close()
        bench.servers.stop_all()
        bench.watchdog.stop()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
