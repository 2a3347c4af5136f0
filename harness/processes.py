"""Server processes started as people start them (`python -m ...`), and stopped again.

A server's output is read back: into memory, line by line, for the tests that
assert on its JSON log lines; or, for the bench, into a log file, so that no
reader thread competes with the server for the machine's two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.ports import listens_on

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_OWN_PREFIXES = ("MTLS_", "ORDERS_", "PAYMENTS_")


def tls_env(pki_dir: Path, name: str, **overrides: str) -> dict[str, str]:
    """MTLS_* variables for a process that is `name` in the PKI at pki_dir."""
    env = {
        "MTLS_PKI_DIR": str(pki_dir),
        "MTLS_IDENTITY": name,
        "MTLS_CERT": str(pki_dir / name / "chain.pem"),
        "MTLS_KEY": str(pki_dir / name / "key.pem"),
        "MTLS_CA": str(pki_dir / "ca.crt"),
        "MTLS_RELOAD_INTERVAL": "0.2",
    }
    env.update(overrides)
    return env


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """os.environ without the caller's MTLS_/ORDERS_/PAYMENTS_ settings, plus `env`.

    This checkout (and tests/apps) is importable, unless `env` brings its own
    PYTHONPATH (another checkout: bench.compare).
    """
    full = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    inherited = full.get("PYTHONPATH", "")
    full.update(env)
    own = env.get("PYTHONPATH") or os.pathsep.join([str(REPO), str(TESTS / "apps"), str(TESTS)])
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [own, inherited]))
    full["PYTHONUNBUFFERED"] = "1"
    return full


def run_module(
    module: str, env: Mapping[str, str], *args: str, timeout: float = 30.0, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args...` to completion, stdout and stderr kept apart."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(parent: int) -> list[int]:
    """The PIDs whose parent is `parent` (from /proc: by PID, never by name)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(_stat(int(stat.parent.name))[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid`, its live children and the children it reaped (a PostgreSQL
    postmaster and its backends)."""
    fields = _stat(pid)
    total = sum(int(fields[index]) for index in (11, 12, 13, 14)) / CLOCK_TICKS
    for child in children_of(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(child)
    return total


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C (a graceful uvicorn shutdown), then a kill if it takes over 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _says_serving(line: str) -> bool:
    """The toolkit's "serving over mtls" audit line, or uvicorn's banner (its own CLI)."""
    return '"event": "serving over mtls"' in line or "Uvicorn running on" in line


class ServerProcess:
    """A server on 127.0.0.1:port, started with `python -m MODULE ARGS` (or `command`)."""

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        port: int,
        args: Sequence[str] = (),
        *,
        log: Path | None = None,
        cwd: Path = REPO,
        name: str | None = None,
    ) -> None:
        argv = [sys.executable, "-m", module, *args]
        self._start(name or module, argv, env, port, log, cwd)

    @classmethod
    def command(
        cls, name: str, argv: Sequence[str], port: int, log: Path, *, cwd: Path = REPO
    ) -> ServerProcess:
        """Another program (`openssl s_server`): ready once it listens, output to `log`."""
        server = cls.__new__(cls)
        server._start(name, list(argv), {}, port, log, cwd, announces=False)
        return server

    def _start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        port: int,
        log: Path | None,
        cwd: Path,
        announces: bool = True,
    ) -> None:
        self.name, self.port, self.log = name, port, log
        self.announces = announces and log is None  # a log file is read only on demand
        self.lines: list[str] = []
        self._lock = threading.Lock()
        out = log.open("w") if log is not None else subprocess.PIPE
        # stdin stays an open pipe: `openssl s_server` stops at end of input.
        self.proc = subprocess.Popen(argv, env=process_env(env), cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=out, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self._reader: threading.Thread | None = None
        if log is None:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        else:
            out.close()  # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def wait_listening(self, timeout: float = 20.0) -> ServerProcess:
        """Return once this process (not another on the same port) has bound it and accepts,
        and every line it wrote before that has been read.

        uvicorn runs the app's start-up *before* it binds, and exits if the port is
        taken, while whoever holds the port accepts connections: only the socket
        table says whose socket it is. The line announcing it serves comes after the
        start-up lines (an expiry warning, say), so a test can assert on those at once.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            announced = not self.announces or any(_says_serving(x) for x in self.snapshot())
            if announced and listens_on(self.proc.pid, self.port):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not listen on {self.port}:\n{self.output()}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self._join()
        return code

    def snapshot(self) -> list[str]:
        if self.log is not None:
            return self.log.read_text(errors="replace").splitlines()
        with self._lock:
            return list(self.lines)

    def output(self, last: int | None = None) -> str:
        lines = self.snapshot()
        return "\n".join(lines[-last:] if last else lines)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (optionally only those whose event is `event`)."""
        found = []
        for line in self.snapshot():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (event is None or record.get("event") == event):
                found.append(record)
        return found

    def wait_for_event(self, event: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.events(event):
                if all(record.get(k) == v for k, v in fields.items()):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} {fields} in the log:\n{self.output()}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        self._join()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(2)
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
