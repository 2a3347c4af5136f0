"""The bench's client workers: processes that run one measurement job per line of input.

Servers, ports and CPU readings come from the shared harness (`harness.processes`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.processes import REPO, process_env


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
            env=process_env({}),
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
