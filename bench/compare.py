#!/usr/bin/python3
"""Side-by-side benchmark of koorelease against the fastest HTTP clients (issue 4).

Run it through bench/run.sh, which installs the tools and builds build-bench/ first:

    bash bench/run.sh [--tiny] [--rounds N] [--duration S] [--clients a,b,c] [--out DIR]

What is measured
----------------
Every client sends the same request over HTTPS (TLS 1.3) on 64 connections:
POST /v1/instances/session/release with Content-Type: application/json, a 2,048-byte
x-auth-token, a fresh UUIDv4 x-request-id and a fresh 40-byte body {"instance_id":"i-<20 digits>"}
(h2load alone cannot vary a request: it sends the same x-request-id and body every time).

Servers, both on 127.0.0.1 only, both pinned to CPU 1:
  nginx  Debian's nginx, one worker, answering with `return 200 '{"error_code":"0",...}'`
         (bench/nginx.conf.in); a second server block closes after every answer (keepalive_timeout
         0) for the reconnect-heavy case.
  mock   build-bench/bin/koorelease mock --threads 1 (it checks the token, that an x-request-id
         is present and the body's instance_id), with --no-track-ids when it has that option.

Clients, each pinned to CPU 0 with taskset:
  koorelease     its full work: reads an ids file, writes the journal to a file (count-based)
  koorelease-p8  the same with --pipeline 8 (skipped with a note if the binary lacks the flag)
  wrk            -t1 -c64 with bench/wrk.lua building each request (time-based, -d S)
  h2load         --h1 -c64 -m1 -t1 (time-based, -D S)
  curl           --parallel --parallel-max 64 with a config file of one entry per request
  aiohttp        bench/aiohttp_client.py: one ClientSession, TCPConnector(limit=64), 64 workers
Count-based clients get a request count meant to last about S seconds: generous defaults in
round 1, then the best rate measured so far times S.

Each client process is reaped with os.wait4, so its CPU time (ru_utime + ru_stime) and peak RSS
(ru_maxrss) come from the kernel's accounting of that process; wall time is measured around it
(process start and exit included). It is forked by a throwaway /bin/sh rather than by this script,
whose own ~17 MB would otherwise be the floor of every client's ru_maxrss (see run_measured).
Per run:
  req/s        succeeded requests / wall time (wrk and h2load: their own count of answers)
  CPU us/req   (user + sys) / requests * 1e6
  peak RSS     ru_maxrss
A run counts only if it fully succeeded (exit code 0, every answer a 200 with error_code "0",
no socket errors; against the mock also its /mock/stats). A failed run is recorded, shown in the
table and makes the script exit 1; it is never averaged in.

Runs are interleaved: in each round every client runs once against nginx, then against the mock
(default: the fast clients only, see --mock-clients; curl and aiohttp are bound by their own CPU,
so the mock adds nothing for them). The table gives, per (server, client), the median and the
min-max over the rounds, and each figure's ratio to wrk's in the same round (a ratio per round,
then the median of those). Then: the reconnect-heavy case (wrk with Connection: close against
koorelease reconnecting, with TLS sessions resumed as counted by the client and by nginx), the
input-size case (peak RSS with 100 thousand and 10 million ids, with and without --no-dedup) and
the hot-path micro-benchmarks (Google Benchmark, as ratios to a memcpy of the request).

Output: a results folder with runs.json (every raw run), table.json, table.md (ready for the
README) and nginx.conf; table.md is printed at the end.

The token is a secret in real use: koorelease gets it only through KOOPHONE_TOKEN, wrk and
aiohttp read it from a file, curl from a header file (-H @file). h2load only takes headers on its
command line, where other local users could read it in /proc; acceptable for the throwaway token
this script generates, and recorded commands show <token> instead.

Standard library only (the aiohttp client is a separate script). Linux only: taskset, wait4,
/proc. Every process it starts is stopped on exit, on error and on Ctrl-C / SIGTERM.
"""
from __future__ import annotations

import argparse
import datetime
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
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchlib import Interrupted, die_with_parent, free_port, median_range, stop_on_signals
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PYTHON = "/usr/bin/python3"  # Debian's, with python3-aiohttp (a pyenv python3 may shadow it)
RELEASE_PATH = "/v1/instances/session/release"
CONNECTIONS = 64
CLIENT_CPU = "0"
SERVER_CPU = "1"
TOKEN_LENGTH = 2048
ALL_CLIENTS = ["koorelease", "koorelease-p8", "wrk", "h2load", "curl", "aiohttp"]
DEFAULT_MOCK_CLIENTS = ["koorelease", "koorelease-p8", "wrk", "h2load"]
# Round-1 request counts of the count-based clients for a 5 s run (scaled by --duration / 5).
FIRST_COUNTS = {"koorelease": 400_000, "koorelease-p8": 600_000, "curl": 40_000, "aiohttp": 10_000,
                "koorelease-reconnect": 10_000}
TINY_COUNTS = {"koorelease": 2_000, "koorelease-p8": 2_000, "curl": 200, "aiohttp": 200,
               "koorelease-reconnect": 200}


def log(message: str) -> None:
    print(f"compare: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One client process: what was run and what the kernel and the client said about it."""
    case: str            # keepalive, reconnect, input-size
    server: str          # nginx, mock, nginx-close
    client: str
    round: int
    command: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)       # variables set for the client (token hidden)
    ok: bool = False
    problem: str = ""
    requests: int = 0    # succeeded requests (wrk, h2load: answers they counted)
    wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    maxrss_kb: int = 0
    exit_code: int | None = None
    extras: dict = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return (self.user_s + self.sys_s) / self.requests * 1e6 if self.requests else 0.0

    @property
    def rss_mb(self) -> float:
        return self.maxrss_kb / 1024

    def record(self) -> dict:
        d = asdict(self)
        d.update(rps=round(self.rps, 1), cpu_us_per_request=round(self.cpu_us, 3),
                 peak_rss_mb=round(self.rss_mb, 2))
        return d


class Children:
    """Every process this script starts, in its own process group, so all can be stopped."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[subprocess.Popen, str]] = {}

    def start(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent,
                                stdin=subprocess.DEVNULL, **kwargs)
        self.live[proc.pid] = (proc, name)
        return proc

    def forget(self, proc: subprocess.Popen) -> None:
        self.live.pop(proc.pid, None)

    def stop(self, proc: subprocess.Popen, grace_s: float = 5.0) -> None:
        """SIGTERM (nginx's master then stops its worker), then SIGKILL to the process group
        after grace_s. The group is signalled only while its leader is not reaped, so its id
        cannot name anyone else's processes."""
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
        self.forget(proc)

    def stop_all(self) -> None:
        for proc, name in list(self.live.values()):
            self.stop(proc, grace_s=3.0)


@dataclass
class Finished:
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kb: int
    timed_out: bool
    stdout: str
    stderr: str


def run_measured(children: Children, name: str, command: list[str], env: dict[str, str],
                 work: Path, timeout_s: float) -> Finished:
    """Runs command to its end and returns the kernel's accounting of that process (wait4).

    The command is not forked from this Python process: Linux starts a process's ru_maxrss at the
    RSS of the process it was forked from (exec keeps the high-water mark), so a client forked
    from here would show at least this script's own ~17 MB. A /bin/sh forks it instead (in the
    background, writing its pid to a file) and exits; the client, orphaned, is re-parented to
    this process (a child subreaper, see main), which reaps it with wait4. taskset execs the
    client in place, so the pid is the client's."""
    out_path, err_path = work / f"{name}.stdout", work / f"{name}.stderr"
    pid_file = work / f"{name}.pid"  # also read by run.sh if this script is killed outright
    pid_file.unlink(missing_ok=True)
    lock = threading.Lock()
    state = {"reaped": False, "timed_out": False}
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        launcher = children.start(f"{name} launcher",
                                  ["/bin/sh", "-c", '"$@" & echo $! >"$0"', str(pid_file)] + command,
                                  env=env, stdout=out, stderr=err)
    launcher.wait()
    children.forget(launcher)
    pid = int(pid_file.read_text())
    group = launcher.pid  # the client's process group: the launcher made a new session

    def kill_group() -> None:
        with lock:  # never after the client is reaped: the ids could then name others' processes
            if not state["reaped"]:
                state["timed_out"] = True
                os.killpg(group, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill_group)
    timer.daemon = True
    timer.start()
    try:
        # Wait without reaping (so the timer can still signal the group safely), then reap.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - start
        timer.cancel()
        with lock:
            state["reaped"] = True
        _, status, usage = os.wait4(pid, 0)
    except BaseException:  # Ctrl-C, SIGTERM: the client goes too
        timer.cancel()
        with lock:
            if not state["reaped"]:
                state["reaped"] = True
                os.killpg(group, signal.SIGKILL)
                os.waitpid(pid, 0)
        raise
    finally:
        pid_file.unlink(missing_ok=True)
    return Finished(exit_code=os.waitstatus_to_exitcode(status), wall_s=wall,
                    user_s=usage.ru_utime, sys_s=usage.ru_stime, maxrss_kb=usage.ru_maxrss,
                    timed_out=state["timed_out"], stdout=out_path.read_text(errors="replace"),
                    stderr=err_path.read_text(errors="replace"))


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise SystemExit(f"compare: {name} not found (bench/run.sh installs it)")
    return found


# ---------------------------------------------------------------------------------------------
# Servers


class Nginx:
    """Server A: Debian's nginx, one worker on CPU 1, keep-alive and close-after-answer ports."""

    def __init__(self, bench: "Bench") -> None:
        self.bench = bench
        self.port = free_port()
        self.close_port = free_port()
        while self.close_port == self.port:
            self.close_port = free_port()
        self.conf = bench.work / "nginx.conf"
        self.access_log = bench.work / "nginx-close-access.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        w = self.bench.work
        text = (BENCH / "nginx.conf.in").read_text()
        for key, value in {"WORK": str(w), "PORT": str(self.port), "CLOSE_PORT": str(self.close_port),
                           "CERT": str(self.bench.cert), "KEY": str(self.bench.key)}.items():
            text = text.replace(f"@{key}@", value)
        self.conf.write_text(text)
        errlog = w / "nginx-error.log"
        with open(w / "nginx.stderr", "wb") as err:
            self.proc = self.bench.children.start(
                "nginx", [tool("nginx"), "-c", str(self.conf), "-e", str(errlog)],
                stdout=subprocess.DEVNULL, stderr=err)
        if not (wait_for_port(self.port, self.proc) and wait_for_port(self.close_port, self.proc)):
            detail = (errlog.read_text(errors="replace") if errlog.exists() else "") + \
                     (w / "nginx.stderr").read_text(errors="replace")
            raise SystemExit(f"compare: nginx did not start:\n{detail}")
        log(f"nginx on 127.0.0.1:{self.port} (keep-alive) and :{self.close_port} (closes), "
            f"worker on CPU {SERVER_CPU}")

    def url(self, close: bool = False) -> str:
        return f"https://127.0.0.1:{self.close_port if close else self.port}"

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def resumed_since(self, offset: int) -> dict:
        """Handshakes logged by the close-after-answer server since offset: resumed and total."""
        if not self.access_log.exists():
            return {}
        with open(self.access_log, "rb") as f:
            f.seek(offset)
            lines = f.read().split(b"\n")
        full = sum(1 for x in lines if x == b".")
        resumed = sum(1 for x in lines if x == b"r")
        return {"server_handshakes": full + resumed, "server_tls_resumed": resumed}

    def stop(self) -> None:
        if self.proc:
            self.bench.children.stop(self.proc)  # SIGTERM: fast shutdown of master and worker
            self.proc = None
            (self.bench.work / "nginx.pid").unlink(missing_ok=True)  # run.sh: nothing left to stop


class Mock:
    """Server B: koorelease mock, one serving thread, the whole process on CPU 1."""

    def __init__(self, bench: "Bench") -> None:
        self.bench = bench
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.track_ids_flag = "--no-track-ids" in bench.help_text("mock")

    def start(self) -> None:
        b = self.bench
        command = ["taskset", "-c", SERVER_CPU, str(b.koorelease), "mock", "--listen", "127.0.0.1:0",
                   "--threads", "1", "--cert", str(b.cert), "--key", str(b.key)]
        if self.track_ids_flag:
            command.append("--no-track-ids")
        out = b.work / "mock.stdout"
        with open(out, "wb") as stdout, open(b.work / "mock.stderr", "wb") as stderr:
            self.proc = b.children.start("mock", command, env=b.env(token=True),
                                         stdout=stdout, stderr=stderr)
        (b.work / "mock.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", out.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if not self.port:
            raise SystemExit("compare: koorelease mock did not start:\n" +
                             (b.work / "mock.stderr").read_text(errors="replace"))
        self.command = command
        log(f"koorelease mock on 127.0.0.1:{self.port} (1 thread, CPU {SERVER_CPU}"
            f"{', --no-track-ids' if self.track_ids_flag else ''})")

    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str) -> dict:
        context = ssl.create_default_context(cafile=str(self.bench.cert))
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        try:
            conn.request(method, path, headers={"x-auth-token": self.bench.token})
            answer = conn.getresponse()
            body = answer.read()
        finally:
            conn.close()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status}")
        return json.loads(body) if body.strip().startswith(b"{") else {}

    def stats(self) -> dict:
        return self._call("GET", "/mock/stats")

    def reset(self) -> None:
        self._call("POST", "/mock/reset")

    def stop(self) -> None:
        if self.proc:
            self.bench.children.stop(self.proc)
            self.proc = None
            (self.bench.work / "mock.pid").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, out: Path) -> None:
        self.args = args
        self.work = work
        self.out = out
        self.children = Children()
        self.build = Path(args.build_dir)
        self.koorelease = self.build / "bin" / "koorelease"
        self.bench_hot_path = self.build / "bin" / "bench_hot_path"
        self.runs: list[Run] = []
        self.notes: list[str] = []
        self.micro: dict = {}
        self.cert = work / "cert.pem"
        self.key = work / "key.pem"
        self.token_file = work / "token"
        self.token_header_file = work / "token-header"
        self.token = ""
        self.ids_files: dict[int, Path] = {}
        self._help: dict[str, str] = {}
        self.pipeline = "--pipeline" in self.help_text("release")
        self.nginx: Nginx | None = None
        self.mock: Mock | None = None
        self.meta: dict = {}

    # -- set-up ---------------------------------------------------------------------------

    def help_text(self, command: str) -> str:
        if command not in self._help:
            done = subprocess.run([str(self.koorelease), command, "--help"], capture_output=True,
                                  text=True, env=self.env())
            self._help[command] = done.stdout + done.stderr
        return self._help[command]

    def env(self, token: bool = False) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if k != "KOOPHONE_TOKEN"}
        e["LC_ALL"] = "C"
        if token:
            e["KOOPHONE_TOKEN"] = self.token
        return e

    def make_secrets(self) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(self.key), "-out",
                        str(self.cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        alphabet = string.ascii_letters + string.digits + "-_"
        self.token = "".join(secrets.choice(alphabet) for _ in range(TOKEN_LENGTH))
        old = os.umask(0o077)
        try:
            self.token_file.write_text(self.token + "\n")
            self.token_header_file.write_text(f"x-auth-token: {self.token}\n")
        finally:
            os.umask(old)
        (self.work / "body.json").write_text(body_of(0))

    def ids_file(self, count: int) -> Path:
        """A file of count distinct ids, i-<20 digits>, written in chunks (never all in memory)."""
        if count not in self.ids_files:
            path = self.work / f"ids-{count}.txt"
            with open(path, "w", buffering=1 << 20) as f:
                for start in range(0, count, 100_000):
                    f.write("".join(f"i-{i:020d}\n" for i in range(start, min(count, start + 100_000))))
            self.ids_files[count] = path
        return self.ids_files[count]

    def hide(self, command: list[str]) -> list[str]:
        return [a.replace(self.token, "<token>") for a in command]

    # -- one run --------------------------------------------------------------------------

    def execute(self, run: Run, command: list[str], env: dict[str, str], expected_s: float,
                check: Callable[[Run, Finished], None]) -> Run:
        """Runs a client on CPU 0, measures it, lets check() parse and judge its output."""
        run.command = self.hide(["taskset", "-c", CLIENT_CPU] + command)
        if "KOOPHONE_TOKEN" in env:
            run.env = {"KOOPHONE_TOKEN": "<token>"}
        timeout = 60 + 4 * expected_s
        label = f"{run.case}/{run.server}/{run.client}#{run.round}"
        try:
            done = run_measured(self.children, "client", ["taskset", "-c", CLIENT_CPU] + command,
                                env, self.work, timeout)
        except OSError as e:
            run.problem = f"could not run: {e}"
            log(f"{label}: FAILED: {run.problem}")
            self.save_run(run)
            return run
        run.exit_code, run.wall_s = done.exit_code, round(done.wall_s, 4)
        run.user_s, run.sys_s, run.maxrss_kb = done.user_s, done.sys_s, done.maxrss_kb
        try:
            check(run, done)
        except Exception as e:  # a parse failure is a failed run, with what was printed
            run.problem = f"cannot read the output ({e!r}); stderr: {done.stderr[-500:]!r}"
            run.ok = False
        if done.timed_out:
            run.ok, run.problem = False, f"killed after {timeout:.0f} s (timeout)"
        if run.ok and run.requests <= 0:
            run.ok, run.problem = False, "no request succeeded"
        if run.ok and run.server == "mock":
            self.check_mock(run)
        elif run.server == "mock":
            self.reset_mock()
        if run.ok:
            log(f"{label}: {run.rps:,.0f} req/s, {run.cpu_us:.1f} us CPU/request, "
                f"{run.rss_mb:.1f} MB peak RSS ({run.requests:,} requests in {run.wall_s:.2f} s)")
        else:
            log(f"{label}: FAILED: {run.problem}")
        self.save_run(run)
        return run

    def check_mock(self, run: Run) -> None:
        """What the mock received: every release answered 200 / error_code 0 with a request id."""
        try:
            s = self.mock.stats()
        except Exception as e:
            run.ok, run.problem = False, f"cannot read /mock/stats: {e}"
            return
        finally:
            self.reset_mock()
        kept = {k: s[k] for k in ("requests", "by_status", "by_error_code", "released",
                                  "request_ids_reused", "missing_request_id", "dropped") if k in s}
        run.extras["mock_stats"] = kept
        problems = []
        if set(s.get("by_status", {})) - {"200"}:
            problems.append(f"statuses {s['by_status']}")
        if set(s.get("by_error_code", {})) - {"0"}:
            problems.append(f"error codes {s['by_error_code']}")
        if s.get("missing_request_id", 0) or s.get("dropped", 0):
            problems.append("requests without x-request-id or dropped")
        if s.get("requests", 0) < run.requests:
            problems.append(f"the mock saw {s.get('requests')} requests, the client counts {run.requests}")
        if problems:
            run.ok, run.problem = False, "mock: " + "; ".join(problems)

    def reset_mock(self) -> None:
        try:
            self.mock.reset()
        except Exception as e:
            log(f"POST /mock/reset failed: {e}")

    def save_run(self, run: Run) -> None:
        self.runs.append(run)
        self.write_runs()
        time.sleep(self.args.settle)  # let the server close the client's connections

    def write_runs(self) -> None:
        data = {"meta": self.meta,
                "runs": [r.record() for r in self.runs], "micro": self.micro, "notes": self.notes}
        tmp = self.out / "runs.json.tmp"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.out / "runs.json")

    # -- clients --------------------------------------------------------------------------

    def run_koorelease(self, case: str, server: str, client: str, rnd: int, url: str, count: int,
                       extra: list[str] | None = None, keep_journal: bool = False) -> Run:
        journal = self.work / "journal.jsonl"
        command = [str(self.koorelease), "release", "--endpoint", url, "--ca-file", str(self.cert),
                   "--input", str(self.ids_file(count)), "--output", str(journal), "--force",
                   "--concurrency", str(CONNECTIONS), "-q"] + (extra or [])

        def check(run: Run, done: Finished) -> None:
            run.extras.update(parse_koorelease_summary(done.stderr))
            run.extras["ids"] = count
            run.extras["journal_bytes"] = journal.stat().st_size if journal.exists() else 0
            released = run.extras.get("released", 0)
            run.requests = released
            run.ok = done.exit_code == 0 and released == count
            if not run.ok:
                tail = " | ".join(done.stderr.strip().splitlines()[-4:])
                run.problem = f"exit code {done.exit_code}, {released} of {count} released: {tail}"

        run = self.execute(Run(case, server, client, rnd), command, self.env(token=True),
                           count / 20_000, check)
        if not keep_journal:
            journal.unlink(missing_ok=True)
        return run

    def run_wrk(self, case: str, server: str, rnd: int, url: str, close: bool = False) -> Run:
        d = self.args.duration
        command = [tool("wrk"), "-t1", f"-c{CONNECTIONS}", f"-d{d}s", "--timeout", "10s",
                   "-s", str(BENCH / "wrk.lua"), url + RELEASE_PATH, "--", str(self.token_file)]
        if close:
            command.append("close")

        def check(run: Run, done: Finished) -> None:
            m = re.search(r"^wrk-json (\{.*\})$", done.stdout, re.M)
            if not m:
                raise ValueError("no wrk-json line")
            summary = json.loads(m.group(1))
            run.extras["wrk"] = summary
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
            errors = {k: v for k, v in summary["errors"].items() if v}
            run.requests = summary["requests"]
            run.ok = done.exit_code == 0 and not errors and not non2xx
            if not run.ok:
                run.problem = (f"exit code {done.exit_code}, errors {errors}, "
                               f"non-2xx {non2xx.group(1) if non2xx else 0}")

        return self.execute(Run(case, server, "wrk", rnd), command, self.env(), d, check)

    def run_h2load(self, case: str, server: str, rnd: int, url: str) -> Run:
        d = self.args.duration
        # h2load takes headers only on its command line (no file, no per-request variation): the
        # throwaway token is visible in /proc while it runs; the saved command shows <token>.
        command = [tool("h2load"), "--h1", f"-c{CONNECTIONS}", "-m1", "-t1", f"-D{d}",
                   "-H", f"x-auth-token: {self.token}", "-H", "content-type: application/json",
                   "-H", f"x-request-id: {uuid.uuid4()}", "-d", str(self.work / "body.json"),
                   url + RELEASE_PATH]

        def check(run: Run, done: Finished) -> None:
            m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                          r"(\d+) failed, (\d+) errored, (\d+) timeout", done.stdout)
            codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", done.stdout)
            if not m or not codes:
                raise ValueError("no requests/status codes lines")
            total, started, finished, succeeded, failed, errored, timeout = map(int, m.groups())
            run.extras["h2load"] = dict(total=total, started=started, done=finished,
                                        succeeded=succeeded, failed=failed, errored=errored,
                                        timeout=timeout, status_2xx=int(codes.group(1)))
            run.requests = int(codes.group(1))
            bad = failed + errored + timeout + sum(int(x) for x in codes.groups()[1:])
            run.ok = done.exit_code == 0 and bad == 0
            if not run.ok:
                run.problem = f"exit code {done.exit_code}, {failed} failed, {errored} errored, " \
                              f"{timeout} timeout, codes {codes.groups()}"

        return self.execute(Run(case, server, "h2load", rnd), command, self.env(), d, check)

    def run_curl(self, case: str, server: str, rnd: int, url: str, count: int) -> Run:
        config = self.work / "curl.config"
        entry = (f'url = "{url}{RELEASE_PATH}"\nrequest = "POST"\nhttp1.1\n'
                 f'cacert = "{self.cert}"\nheader = "@{self.token_header_file}"\n'
                 'header = "Content-Type: application/json"\n'
                 'output = "/dev/null"\nwrite-out = "%{http_code}\\n"\n')
        with open(config, "w", buffering=1 << 20) as f:
            for i in range(count):
                if i:
                    f.write("next\n")  # options reset: each entry is a whole request
                f.write(entry)
                escaped = body_of(i).replace('"', '\\"')
                f.write(f'header = "x-request-id: {uuid.uuid4()}"\ndata-raw = "{escaped}"\n')
        # --parallel keeps connections alive in curl's connection pool; --parallel-immediate
        # opens the 64 connections at once instead of waiting to see whether it can multiplex.
        command = [tool("curl"), "--no-progress-meter", "--parallel", "--parallel-immediate",
                   "--parallel-max", str(CONNECTIONS), "--config", str(config)]

        def check(run: Run, done: Finished) -> None:
            codes: dict[str, int] = {}
            for line in done.stdout.split():
                codes[line] = codes.get(line, 0) + 1
            run.extras["status_codes"] = codes
            run.requests = codes.get("200", 0)
            run.ok = done.exit_code == 0 and run.requests == count
            if not run.ok:
                run.problem = f"exit code {done.exit_code}, codes {codes} of {count}: " \
                              f"{done.stderr.strip()[-300:]}"

        run = self.execute(Run(case, server, "curl", rnd), command, self.env(), count / 2_000, check)
        run.extras["config_entries"] = count
        return run

    def run_aiohttp(self, case: str, server: str, rnd: int, url: str, count: int) -> Run:
        command = [PYTHON, str(BENCH / "aiohttp_client.py"), "--url", url + RELEASE_PATH,
                   "--cafile", str(self.cert), "--token-file", str(self.token_file),
                   "--requests", str(count), "--connections", str(CONNECTIONS)]

        def check(run: Run, done: Finished) -> None:
            result = json.loads(done.stdout.strip().splitlines()[-1])
            run.extras["aiohttp"] = result
            run.requests = result["succeeded"]
            run.ok = done.exit_code == 0 and run.requests == count
            if not run.ok:
                run.problem = f"exit code {done.exit_code}, {result}: {done.stderr.strip()[-300:]}"

        return self.execute(Run(case, server, "aiohttp", rnd), command, self.env(), count / 500, check)

    # -- cases ----------------------------------------------------------------------------

    def count_for(self, key: str, rate: float | None) -> int:
        """Requests for a count-based client: about --duration seconds of work at the best rate
        measured in the rounds before (the best, not the last: one round slowed down by another
        load on the machine would otherwise make the next one too short), or a generous guess in
        round 1."""
        if self.args.tiny:
            return TINY_COUNTS[key]
        if rate:
            return max(1_000, int(rate * self.args.duration))
        return max(1_000, int(FIRST_COUNTS[key] * self.args.duration / 5))

    def run_client(self, server: str, client: str, rnd: int, url: str,
                   rates: dict[str, float]) -> Run | None:
        rate_key = f"{server}/{client}"
        count = self.count_for(client, rates.get(rate_key)) if client in FIRST_COUNTS else 0
        if client == "wrk":
            run = self.run_wrk("keepalive", server, rnd, url)
        elif client == "h2load":
            run = self.run_h2load("keepalive", server, rnd, url)
        elif client == "curl":
            run = self.run_curl("keepalive", server, rnd, url, count)
        elif client == "aiohttp":
            run = self.run_aiohttp("keepalive", server, rnd, url, count)
        elif client == "koorelease":
            run = self.run_koorelease("keepalive", server, client, rnd, url, count)
        elif client == "koorelease-p8":
            if not self.pipeline:
                return None
            run = self.run_koorelease("keepalive", server, client, rnd, url, count, ["--pipeline", "8"])
        else:
            raise ValueError(client)
        if run.ok:
            rates[rate_key] = max(run.rps, rates.get(rate_key, 0))
        return run

    def keepalive_and_reconnect(self) -> None:
        clients = self.args.clients
        mock_clients = [c for c in self.args.mock_clients if c in clients]
        if ("koorelease-p8" in clients) and not self.pipeline:
            self.notes.append("koorelease-p8 skipped: this koorelease has no --pipeline option yet.")
            log(self.notes[-1])
        rates: dict[str, float] = {}
        cases = self.args.cases
        for rnd in range(1, self.args.rounds + 1):
            if "keepalive" in cases:
                log(f"round {rnd}/{self.args.rounds}: keep-alive, nginx")
                for client in clients:
                    self.run_client("nginx", client, rnd, self.nginx.url(), rates)
                if mock_clients:
                    log(f"round {rnd}/{self.args.rounds}: keep-alive, koorelease mock")
                    for client in mock_clients:
                        self.run_client("mock", client, rnd, self.mock.url(), rates)
        if "reconnect" in cases:
            for rnd in range(1, self.args.rounds + 1):
                log(f"round {rnd}/{self.args.rounds}: reconnect-heavy (nginx closes after every answer)")
                self.reconnect_round(rnd, rates)

    def reconnect_round(self, rnd: int, rates: dict[str, float]) -> None:
        url = self.nginx.url(close=True)
        offset = self.nginx.log_offset()
        run = self.run_wrk("reconnect", "nginx-close", rnd, url, close=True)
        run.extras.update(self.nginx.resumed_since(offset))
        self.write_runs()
        offset = self.nginx.log_offset()
        key = "nginx-close/koorelease"
        count = self.count_for("koorelease-reconnect", rates.get(key))
        run = self.run_koorelease("reconnect", "nginx-close", "koorelease", rnd, url, count)
        run.extras.update(self.nginx.resumed_since(offset))
        self.write_runs()
        if run.ok:
            rates[key] = max(run.rps, rates.get(key, 0))

    def input_size(self) -> None:
        small, large = (1_000, 20_000) if self.args.tiny else (100_000, 10_000_000)
        log(f"input size: {small:,} and {large:,} ids, with and without --no-dedup")
        for count in (small, large):
            self.ids_file(count)
        for count in (small, large):
            for extra in ([], ["--no-dedup"]):
                client = "koorelease" + (" --no-dedup" if extra else "")
                self.run_koorelease("input-size", "nginx", client, 1, self.nginx.url(), count, extra)
        for count in (small, large):
            self.ids_files.pop(count).unlink(missing_ok=True)

    def micro_benchmarks(self) -> None:
        if not self.bench_hot_path.exists():
            self.notes.append(f"Micro-benchmarks skipped: {self.bench_hot_path} was not built "
                              "(libbenchmark-dev missing when CMake ran).")
            log(self.notes[-1])
            return
        min_time = "0.01" if self.args.tiny else "0.2"  # seconds (Google Benchmark 1.7 syntax)
        command = ["taskset", "-c", CLIENT_CPU, str(self.bench_hot_path), "--benchmark_format=json",
                   f"--benchmark_min_time={min_time}"]
        log("micro-benchmarks: " + " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, env=self.env())
        self.micro = {"command": command, "exit_code": done.returncode}
        if done.returncode != 0:
            self.micro["problem"] = done.stderr.strip()[-500:]
            log(f"micro-benchmarks FAILED: {self.micro['problem']}")
            return
        data = json.loads(done.stdout)
        self.micro["context"] = data.get("context", {})
        self.micro["benchmarks"] = data.get("benchmarks", [])
        self.write_runs()

    # -- description ----------------------------------------------------------------------

    def describe_machine(self) -> dict:
        def first_line(command: list[str]) -> str:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                return "?"
            text = (done.stdout + done.stderr).strip()
            return text.splitlines()[0] if text else "?"

        def version(text: str) -> str:
            m = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
            return m.group(1) if m else text

        model = "?"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        commit = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                                "--", "src", "include", "CMakeLists.txt"],
                               capture_output=True, text=True).stdout.strip()
        debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
        return {
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "cpu_model": model,
            "kernel": platform.release(),
            "debian": debian,
            "nginx": version(first_line([tool("nginx"), "-v"])),
            "wrk": version(first_line([tool("wrk"), "-v"])),
            "h2load": version(first_line([tool("h2load"), "--version"])),
            "curl": version(first_line([tool("curl"), "--version"])),
            "aiohttp": first_line([PYTHON, "-c", "import aiohttp; print(aiohttp.__version__)"]),
            "openssl": version(first_line(["openssl", "version"])),
            "koorelease": commit + (" (with uncommitted changes)" if dirty else ""),
            "pipeline_supported": self.pipeline,
            "mock_no_track_ids": self.mock.track_ids_flag if self.mock else None,
            "nginx_command": f"nginx -c nginx.conf -e nginx-error.log (worker on CPU {SERVER_CPU})",
            "mock_command": " ".join(self.mock.command) if self.mock else None,
            "invocation": os.environ.get("BENCH_INVOCATION") or " ".join(sys.argv),
            "tiny": self.args.tiny,
            "rounds": self.args.rounds,
            "duration_s": self.args.duration,
        }


def body_of(n: int) -> str:
    body = f'{{"instance_id":"i-{n:020d}"}}'
    assert len(body) == 40
    return body


def parse_koorelease_summary(stderr: str) -> dict:
    out: dict = {}
    m = re.search(r"koorelease: (\d+) ids: (\d+) released, (\d+) failed, (\d+) invalid lines, "
                  r"(\d+) duplicates", stderr)
    if m:
        out.update(zip(("ids_read", "released", "failed", "invalid", "duplicates"), map(int, m.groups())))
    m = re.search(r"koorelease: (\d+) requests \((\d+) retries, (\d+) throttled\) on (\d+) connections "
                  r"\((\d+) TLS resumed\) in ([\d.]+) s: (\d+) requests/s", stderr)
    if m:
        out.update(requests_sent=int(m.group(1)), retries=int(m.group(2)), throttled=int(m.group(3)),
                   connections=int(m.group(4)), tls_resumed=int(m.group(5)),
                   own_elapsed_s=float(m.group(6)), own_rps=int(m.group(7)))
    m = re.search(r"latency p50 ([\d.]+) ms, p90 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", stderr)
    if m:
        out["latency_ms"] = dict(zip(("p50", "p90", "p99", "max"), map(float, m.groups())))
    return out


# ---------------------------------------------------------------------------------------------
# The table


METRICS = {"rps": lambda r: r.rps, "cpu_us": lambda r: r.cpu_us, "rss_mb": lambda r: r.rss_mb}


def summarize(runs: list[Run], case: str, server: str, clients: list[str], reference: str) -> list[dict]:
    """Per client: median/min/max of each metric over its good runs, and the median over rounds
    of its ratio to the reference client's figure in the same round."""
    mine = [r for r in runs if r.case == case and r.server == server]
    ref = {r.round: r for r in mine if r.client == reference and r.ok}
    rows = []
    for client in clients:
        runs_c = [r for r in mine if r.client == client]
        if not runs_c:
            continue
        good = [r for r in runs_c if r.ok]
        row = {"client": client, "runs": len(runs_c), "ok": len(good),
               "failed": [f"round {r.round}: {r.problem}" for r in runs_c if not r.ok]}
        for name, get in METRICS.items():
            row[name] = median_range([get(r) for r in good])
            ratios = [get(r) / get(ref[r.round]) for r in good
                      if r.round in ref and get(ref[r.round]) > 0]
            row[name + "_vs_" + reference] = statistics.median(ratios) if ratios else None
        extra = [r.extras for r in good]
        if extra and "connections" in extra[0]:
            row["connections"] = statistics.median(e.get("connections", 0) for e in extra)
            row["tls_resumed"] = statistics.median(e.get("tls_resumed", 0) for e in extra)
        if extra and "server_handshakes" in extra[0]:
            row["server_handshakes"] = statistics.median(e["server_handshakes"] for e in extra)
            row["server_tls_resumed"] = statistics.median(e["server_tls_resumed"] for e in extra)
        rows.append(row)
    return rows


def fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def fmt_range(m: dict | None, digits: int) -> str:
    if not m:
        return "–"
    if m["min"] == m["max"]:
        return fmt_num(m["median"], digits)
    return f"{fmt_num(m['median'], digits)} ({fmt_num(m['min'], digits)}–{fmt_num(m['max'], digits)})"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def keepalive_table(rows: list[dict], ref: str) -> list[str]:
    lines = [f"| client | req/s | × {ref} | CPU µs/request | × {ref} | peak RSS MB | × {ref} | runs ok |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['client']} | {fmt_range(r['rps'], 0)} | {fmt_ratio(r['rps_vs_' + ref])} | "
                     f"{fmt_range(r['cpu_us'], 1)} | {fmt_ratio(r['cpu_us_vs_' + ref])} | "
                     f"{fmt_range(r['rss_mb'], 1)} | {fmt_ratio(r['rss_mb_vs_' + ref])} | "
                     f"{r['ok']}/{r['runs']} |")
    return lines


def wrk_ratio_by_round(runs: list[Run], num: str, den: str) -> dict | None:
    """Per round: wrk's req/s against server num over wrk's against server den."""
    def by_round(server):
        return {r.round: r.rps for r in runs if r.case == "keepalive" and r.server == server
                and r.client == "wrk" and r.ok}
    a, b = by_round(num), by_round(den)
    return median_range([a[k] / b[k] for k in a if k in b and b[k] > 0])


def build_table(bench: Bench) -> tuple[dict, str]:
    runs, args, meta = bench.runs, bench.args, bench.meta
    table: dict = {"meta": meta, "notes": list(bench.notes)}
    md: list[str] = []
    md.append(f"Machine: {meta['nproc']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}, "
              f"Debian {meta['debian']}; nginx {meta['nginx']}, wrk {meta['wrk']}, h2load {meta['h2load']}, "
              f"curl {meta['curl']}, aiohttp {meta['aiohttp']}, OpenSSL {meta['openssl']}; "
              f"koorelease {meta['koorelease']}; {meta['date_utc']}.")
    md.append("")
    rounds = meta["rounds"]
    md.append(f"Command: `{meta['invocation']}` ({rounds} round{'s' if rounds != 1 else ''} "
              f"of {meta['duration_s']} s a run).")
    if args.tiny:
        md.append("")
        md.append("**Tiny mode (CI smoke test): the figures mean nothing.**")
    clients = args.clients

    targets: list[str] = []
    if "keepalive" in args.cases:
        nginx_rows = summarize(runs, "keepalive", "nginx", clients, "wrk")
        mock_rows = summarize(runs, "keepalive", "mock", clients, "wrk")
        table["keepalive_nginx"], table["keepalive_mock"] = nginx_rows, mock_rows
        md += ["", f"### Keep-alive, {CONNECTIONS} connections, against nginx (one worker, CPU {SERVER_CPU})", ""]
        md += keepalive_table(nginx_rows, "wrk")
        if mock_rows:
            md += ["", f"### Keep-alive, {CONNECTIONS} connections, against koorelease mock (one thread, CPU {SERVER_CPU})", ""]
            md += keepalive_table(mock_rows, "wrk")
        mock_vs_nginx = wrk_ratio_by_round(runs, "mock", "nginx")
        table["mock_vs_nginx_wrk_rps"] = mock_vs_nginx
        if mock_vs_nginx:
            md += ["", f"koorelease mock ÷ nginx, wrk's req/s: **{fmt_range(mock_vs_nginx, 2)}** (target ≥ 0.7)."]
        targets += keepalive_targets(nginx_rows, mock_vs_nginx)

    if "reconnect" in args.cases:
        rows = summarize(runs, "reconnect", "nginx-close", ["wrk", "koorelease"], "wrk")
        table["reconnect"] = rows
        md += ["", "### Reconnect-heavy: nginx closes after every answer (wrk sends Connection: close)", "",
               "| client | req/s | × wrk | CPU µs/request | × wrk | peak RSS MB | connections | TLS resumed (client) | TLS resumed (nginx) | runs ok |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            conns = fmt_num(r.get("connections")) if "connections" in r else "–"
            client_res = fmt_num(r.get("tls_resumed")) if "tls_resumed" in r else "–"
            server_res = (f"{fmt_num(r['server_tls_resumed'])} of {fmt_num(r['server_handshakes'])}"
                          if "server_handshakes" in r else "–")
            md.append(f"| {r['client']} | {fmt_range(r['rps'], 0)} | {fmt_ratio(r['rps_vs_wrk'])} | "
                      f"{fmt_range(r['cpu_us'], 1)} | {fmt_ratio(r['cpu_us_vs_wrk'])} | "
                      f"{fmt_range(r['rss_mb'], 1)} | {conns} | {client_res} | {server_res} | {r['ok']}/{r['runs']} |")
        k = next((r for r in rows if r["client"] == "koorelease"), None)
        if k and k["rps_vs_wrk"] is not None:
            resumed = k.get("server_tls_resumed", k.get("tls_resumed", 0))
            targets.append(target_line("Reconnect-heavy: req/s ≥ 1.0× wrk's Connection: close rate, TLS resumed",
                                       f"{k['rps_vs_wrk']:.2f}×, {fmt_num(resumed)} resumed",
                                       k["rps_vs_wrk"] >= 1.0 and resumed > 0))

    if "input-size" in args.cases:
        rows = []
        for r in runs:
            if r.case == "input-size":
                rows.append({"ids": r.extras.get("ids"), "dedup": "--no-dedup" not in r.client,
                             "ok": r.ok, "problem": r.problem, "rss_mb": r.rss_mb, "rps": r.rps,
                             "wall_s": r.wall_s})
        table["input_size"] = rows
        md += ["", "### Input size: koorelease against nginx keep-alive, peak RSS", "",
               "| ids | duplicate detection | peak RSS MB | req/s | wall s | ok |", "|---:|---|---:|---:|---:|---|"]
        for r in rows:
            md.append(f"| {fmt_num(r['ids'])} | {'on (default)' if r['dedup'] else 'off (--no-dedup)'} | "
                      f"{r['rss_mb']:.1f} | {fmt_num(r['rps'])} | {r['wall_s']:.2f} | {'yes' if r['ok'] else 'FAILED'} |")
        for dedup in (True, False):
            pair = sorted((r for r in rows if r["dedup"] == dedup and r["ok"]), key=lambda r: r["ids"])
            if len(pair) == 2 and pair[0]["rss_mb"] > 0:
                ratio = pair[1]["rss_mb"] / pair[0]["rss_mb"]
                table.setdefault("input_size_ratio", {})["dedup" if dedup else "no_dedup"] = ratio
                label = "default" if dedup else "--no-dedup"
                md.append("")
                md.append(f"Peak RSS {fmt_num(pair[1]['ids'])} ÷ {fmt_num(pair[0]['ids'])} ids, {label}: **{ratio:.2f}×**.")
                targets.append(target_line(f"Peak RSS the same (within 10%) for {fmt_num(pair[0]['ids'])} and "
                                           f"{fmt_num(pair[1]['ids'])} ids, {label}",
                                           f"{ratio:.2f}×", ratio <= 1.10))

    if "micro" in args.cases and bench.micro.get("benchmarks"):
        items = [b for b in bench.micro["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
        ref = next((b for b in items if b["name"] == "reference_copy_request"), None)
        ref_ns = ref["cpu_time"] * scale[ref.get("time_unit", "ns")] if ref else None
        rows = []
        for b in items:
            ns = b["cpu_time"] * scale[b.get("time_unit", "ns")]
            rows.append({"name": b["name"], "ns_per_op": ns, "vs_reference": ns / ref_ns if ref_ns else None})
        table["micro"] = rows
        md += ["", "### Hot-path micro-benchmarks (Google Benchmark, CPU time, on CPU 0)", "",
               "| benchmark | ns/op | × reference_copy_request |", "|---|---:|---:|"]
        for r in rows:
            md.append(f"| {r['name']} | {r['ns_per_op']:,.1f} | {fmt_ratio(r['vs_reference'])} |")
    elif "micro" in args.cases and bench.micro.get("problem"):
        md += ["", f"Micro-benchmarks FAILED: {bench.micro['problem']}"]

    if targets:
        md += ["", "### Targets (issue 4)", "", "| target | measured | met |", "|---|---|---|"] + targets
    table["targets"] = targets

    failed = [r for r in runs if not r.ok]
    md += ["", "### Notes", ""]
    md += [f"- {n}" for n in notes_text(bench)]
    if failed:
        md += ["", f"**{len(failed)} failed run(s)**, not counted in the figures:"]
        md += [f"- {r.case}/{r.server}/{r.client} round {r.round}: {r.problem}" for r in failed]
    table["failed_runs"] = len(failed)
    return table, "\n".join(md) + "\n"


def target_line(name: str, measured: str, met: bool | None) -> str:
    return f"| {name} | {measured} | {'yes' if met else 'no'} |"


def keepalive_targets(rows: list[dict], mock_vs_nginx: dict | None) -> list[str]:
    by = {r["client"]: r for r in rows}
    out = []
    k, p8 = by.get("koorelease"), by.get("koorelease-p8")
    if k and k["rps_vs_wrk"] is not None:
        out.append(target_line("Keep-alive: req/s ≥ 0.95× wrk's", f"{k['rps_vs_wrk']:.2f}×", k["rps_vs_wrk"] >= 0.95))
        out.append(target_line("Keep-alive: CPU per request ≤ 1.2× wrk's", f"{k['cpu_us_vs_wrk']:.2f}×",
                               k["cpu_us_vs_wrk"] <= 1.2))
    if p8 and p8["rps_vs_wrk"] is not None:
        out.append(target_line("--pipeline 8: req/s ≥ 1.3× wrk's", f"{p8['rps_vs_wrk']:.2f}×", p8["rps_vs_wrk"] >= 1.3))
        out.append(target_line("--pipeline 8: CPU per request ≤ 0.7× wrk's", f"{p8['cpu_us_vs_wrk']:.2f}×",
                               p8["cpu_us_vs_wrk"] <= 0.7))
    if k and k["rss_mb"]:
        out.append(target_line(f"Peak RSS ≤ 40 MB at {CONNECTIONS} connections", f"{k['rss_mb']['median']:.1f} MB",
                               k["rss_mb"]["median"] <= 40))
    for other, factor in (("curl", 4), ("aiohttp", 10)):
        o = by.get(other)
        if k and o and k["rps"] and o["rps"]:
            ratio = k["rps"]["median"] / o["rps"]["median"]
            out.append(target_line(f"req/s ≥ {factor}× {other}'s", f"{ratio:.1f}×", ratio >= factor))
    if mock_vs_nginx:
        out.append(target_line("koorelease mock ≥ 0.7× nginx's throughput (wrk)", f"{mock_vs_nginx['median']:.2f}×",
                               mock_vs_nginx["median"] >= 0.7))
    return out


def notes_text(bench: Bench) -> list[str]:
    a = bench.args
    notes = [
        f"Servers on 127.0.0.1, pinned to CPU {SERVER_CPU}; each client pinned to CPU {CLIENT_CPU} "
        f"(taskset), {CONNECTIONS} connections, HTTPS with TLS 1.3 (P-256 certificate), HTTP/1.1.",
        "Every request: POST /v1/instances/session/release, a 2,048-byte x-auth-token, a fresh UUIDv4 "
        "x-request-id, a fresh 40-byte JSON body; except h2load, which cannot vary a request and sends "
        "the same x-request-id and body every time.",
        "req/s: succeeded requests ÷ the client process's wall time (start and exit included; wrk and "
        "h2load: the answers they counted). CPU µs/request: (user + sys) ÷ requests, and peak RSS "
        "(ru_maxrss), from wait4 on the client process.",
        f"Median (min–max) over {a.rounds} interleaved round(s); × wrk is the ratio to wrk against the "
        "same server in the same round, the median of the per-round ratios.",
        f"wrk and h2load run for {a.duration} s; koorelease, curl and aiohttp get a number of requests "
        f"meant to last about {a.duration} s (the best rate of the rounds before × {a.duration}).",
        "koorelease does its whole job: reads an ids file, writes the JSON Lines journal to a file. "
        "Its peak RSS includes duplicate detection (about 35 bytes an id), so it grows with the ids "
        "a run is given; the input-size case shows it with and without --no-dedup.",
        "wrk builds every request in its Lua script (bench/wrk.lua). curl --parallel keeps connections "
        "alive in its pool; its config file (one entry per request) is parsed inside the measured run. "
        "aiohttp: bench/aiohttp_client.py, one ClientSession, 64 connections.",
        "Against the mock, every run is also checked against /mock/stats (all 200, error_code 0, "
        "every request with an x-request-id).",
        f"Clients against the mock: {', '.join(c for c in a.mock_clients if c in a.clients)} "
        "(curl and aiohttp are bound by their own CPU: the server does not matter to them).",
        "Input-size case: koorelease with default settings (apart from --no-dedup); one run each.",
        "Micro-benchmarks: ns per operation is Google Benchmark's CPU time; the ratio is to a memcpy of "
        "the whole request measured in the same run.",
    ]
    notes += bench.notes
    return notes


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Side-by-side benchmark: koorelease against wrk, h2load, "
                                            "curl and aiohttp (issue 4). What is measured and how: the docstring "
                                            "at the top of bench/compare.py.")
    p.add_argument("--tiny", action="store_true", help="CI smoke test: 1 round of 1 s, small counts")
    p.add_argument("--rounds", type=int, help="rounds (default 3; at least 3 unless --tiny)")
    p.add_argument("--duration", type=int, help="whole seconds per run (default 5, --tiny 1)")
    p.add_argument("--clients", default=",".join(ALL_CLIENTS),
                   help=f"clients to run against nginx, in this order (default {','.join(ALL_CLIENTS)})")
    p.add_argument("--mock-clients", default=",".join(DEFAULT_MOCK_CLIENTS),
                   help=f"clients also run against koorelease mock (default {','.join(DEFAULT_MOCK_CLIENTS)}; "
                        "'' for none)")
    p.add_argument("--cases", default="keepalive,reconnect,input-size,micro",
                   help="which parts to run (default keepalive,reconnect,input-size,micro)")
    p.add_argument("--out", help="results folder (default bench/results/<UTC yyyymmdd-HHMMSS>)")
    p.add_argument("--build-dir", default=str(REPO / "build-bench"), help="where bin/koorelease is")
    p.add_argument("--work-dir", help="scratch folder (default: a new temporary one, removed at the end)")
    p.add_argument("--settle", type=float, help="seconds of pause after each run (default 0.5, --tiny 0.1)")
    a = p.parse_args(argv)
    a.rounds = a.rounds or (1 if a.tiny else 3)
    a.duration = a.duration or (1 if a.tiny else 5)
    a.settle = a.settle if a.settle is not None else (0.1 if a.tiny else 0.5)
    if not a.tiny and a.rounds < 3:
        p.error("--rounds must be at least 3 (or use --tiny)")
    if a.duration <= 0:
        p.error("--duration must be positive")
    a.clients = [c for c in a.clients.split(",") if c]
    a.mock_clients = [c for c in a.mock_clients.split(",") if c]
    a.cases = [c for c in a.cases.split(",") if c]
    for c in a.clients + a.mock_clients:
        if c not in ALL_CLIENTS:
            p.error(f"unknown client {c!r} (known: {', '.join(ALL_CLIENTS)})")
    for c in a.cases:
        if c not in ("keepalive", "reconnect", "input-size", "micro"):
            p.error(f"unknown case {c!r}")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    own_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="koorelease-bench-")) if own_work else Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    stop_on_signals("compare")  # the clients, orphaned by their launcher: see run_measured

    if not (Path(args.build_dir) / "bin" / "koorelease").exists():
        raise SystemExit(f"compare: {args.build_dir}/bin/koorelease not found (bench/run.sh builds it)")
    bench = Bench(args, work, out)
    code = 1
    try:
        bench.make_secrets()
        bench.nginx = Nginx(bench)
        bench.nginx.start()
        if args.mock_clients and "keepalive" in args.cases:
            bench.mock = Mock(bench)
            bench.mock.start()
        bench.meta = bench.describe_machine()
        bench.write_runs()
        bench.keepalive_and_reconnect()
        if "input-size" in args.cases:
            bench.input_size()
        if bench.mock:
            bench.mock.stop()
        bench.nginx.stop()
        if "micro" in args.cases:
            bench.micro_benchmarks()
        shutil.copy(bench.nginx.conf, out / "nginx.conf")
        table, md = build_table(bench)
        (out / "table.json").write_text(json.dumps(table, indent=1, default=str) + "\n")
        (out / "table.md").write_text(md)
        bench.write_runs()
        print(md)
        failed = [r for r in bench.runs if not r.ok]
        micro_failed = "micro" in args.cases and bench.micro.get("exit_code", 0) != 0
        elapsed = time.monotonic() - started
        if failed or micro_failed:
            log(f"FAILED: {len(failed)} run(s) failed{' and the micro-benchmarks' if micro_failed else ''}; "
                f"see the notes above and {out}/runs.json")
        else:
            code = 0
            log(f"all {len(bench.runs)} runs succeeded in {elapsed:.0f} s")
        print(f"results: {out}")
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({str(e) or 'SIGINT'}); stopping; the runs so far are in {out}/runs.json")
        code = 130
    finally:
        if bench.mock:
            bench.mock.stop()
        if bench.nginx:
            bench.nginx.stop()
        bench.children.stop_all()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
