"""`python -m bench.compare BEFORE [AFTER]`: kept-alive mTLS server CPU per request, two commits.

A before/after claim about the toolkit's per-request cost needs both measured
in one run on this noisy machine, not one figure from last week's report. Each
commit is checked out into a temporary worktree and serves `bench.serve ping
--mode mtls` (its own toolkit and its own bench app); the load generator of
this checkout alternates between them, round by round, and the medians and
spreads are printed. AFTER defaults to HEAD. `make bench-compare BEFORE=rev`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.keepalive import load
from bench.pki import make_pki, server_env
from bench.procs import Worker
from bench.profile import PROFILES
from bench.results import load_figures
from harness.ports import free_port
from harness.processes import REPO, ServerProcess

SOURCE_DIRS = (".", "shared", "services", "certs/scripts")


@contextmanager
def worktree(rev: str, parent: Path) -> Iterator[Path]:
    """`rev` checked out (detached) under parent; removed again afterwards."""
    path = parent / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(path), rev],
                   check=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                       check=False)  # fmt: skip


def _server(tree: Path, name: str, pki: Path, logs: Path) -> ServerProcess:
    port = free_port()
    env = server_env(pki, "orders", PYTHONPATH=":".join(str(tree / d) for d in SOURCE_DIRS))
    args = ["ping", "--mode", "mtls", "--port", str(port)]
    log = logs / f"{name}.log"
    server = ServerProcess("bench.serve", env, port, args, log=log, cwd=tree, name=name)
    return server.wait_listening()


def compare(revs: list[str], profile_name: str) -> dict[str, str]:
    """rev -> 'median (low-high) µs/req' of server CPU, measured alternately."""
    profile = PROFILES[profile_name]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        work = Path(scratch)
        pki, logs = make_pki(work / "pki"), work / "logs"
        logs.mkdir()
        with worktree(revs[0], work) as before, worktree(revs[1], work) as after:
            servers = [_server(before, revs[0], pki, logs), _server(after, revs[1], pki, logs)]
            loadgen = Worker("bench.loadgen", logs / "loadgen.log")
            runs: dict[str, list[dict[str, Any]]] = {rev: [] for rev in revs}
            try:
                for round_no in range(profile.rounds * 2):  # A B B A A B B A ...
                    server = servers[(round_no + round_no // 2) % 2]
                    runs[server.name].append(load(loadgen, server.port, pki, profile, [server.pid]))
            finally:
                loadgen.stop()
                for server in servers:
                    server.stop()
    figures = {rev: load_figures(r) for rev, r in runs.items()}
    return {
        rev: f"{f.server_us_per_request.show()} µs/request, {f.rps.show()} req/s"
        for rev, f in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    args = parser.parse_args()
    for rev, figure in compare([args.before, args.after], args.profile).items():
        print(f"{rev}: kept-alive mTLS GET /ping: server CPU {figure} (median, low-high)")


if __name__ == "__main__":
    main()
