"""Processes of the bench: start, wait until listening, read CPU time, stop.

CPU time comes from /proc/PID/stat (utime + stime), so a server's cost per
request or per handshake is measured without touching its code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the ephemeral range, never the same one twice in a process.

    Port 0 would hand out an ephemeral port, which any outgoing connection (a
    load run makes thousands) can take between this call and the server's bind.
    A port is only free until someone binds it: two calls in a row (a pair's two
    ports) could draw the same number, so every port handed out is remembered.
    The tests use this allocator too.
    """
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(high - 12000, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the TCP socket listening on `port` (from /proc).

    A connection that succeeds proves only that *someone* listens there: a
    server that lost the race for its port exits, while another answers for it.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def bench_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment without the caller's MTLS_/ORDERS_/PAYMENTS_ settings, plus `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MTLS_", "ORDERS_", "PAYMENTS_"))
    }
    inherited = env.get("PYTHONPATH", "")
    env.update(extra)
    # A server from another checkout (bench.compare) brings its own path; others import this one.
    own = extra.get("PYTHONPATH") or str(REPO)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [own, inherited]))
    return env


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C (a graceful uvicorn shutdown), then a kill if it takes over 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Server:
    """A server process listening on 127.0.0.1:port; its output goes to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        env: Mapping[str, str],
        log: Path,
        cwd: Path = REPO,
    ) -> None:
        self.name, self.port, self.log = name, port, log
        with log.open("w") as out:
            # stdin stays an open pipe: `openssl s_server` stops at end of input.
            self.proc = subprocess.Popen(
                list(argv),
                env=bench_env(env),
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @classmethod
    def python(
        cls, name: str, module_args: Sequence[str], port: int, env: Mapping[str, str], log: Path
    ) -> Server:
        return cls(name, [sys.executable, "-m", *module_args], port, env, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_listening(self, timeout: float = 30.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.tail()}")
            if listens_on(self.pid, self.port):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not listen on {self.port}: {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


class Worker:
    """A client process (`python -m MODULE --worker`) that runs one job per line of input.

    Started once per measurement, so its start-up (imports, first contexts) is
    paid once and never inside a measuring window.
    """

    def __init__(self, module: str, log: Path) -> None:
        self.module = module
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--worker"],
            env=bench_env({}),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def call(self, args: Sequence[str]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(list(args)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.module} {' '.join(args)} failed; see {self._log.name}")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def serve_jobs(parse: Callable[[list[str]], Any], job: Callable[[Any], dict[str, Any]]) -> None:
    """The worker side: each input line is a JSON argv; each answer one JSON line."""
    for line in sys.stdin:
        print(json.dumps(job(parse(json.loads(line)))), flush=True)


def job_main(
    parser: Callable[[], argparse.ArgumentParser], job: Callable[[Any], dict[str, Any]]
) -> None:
    """A client's `main`: a worker for the bench (`--worker`), or one run from the shell."""
    if sys.argv[1:] == ["--worker"]:  # the bench's jobs, one JSON argv a line
        serve_jobs(lambda argv: parser().parse_args(argv), job)
    else:
        print(json.dumps(job(parser().parse_args())))
