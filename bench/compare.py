"""`python -m bench.compare BEFORE [AFTER] [--chain]`: server CPU per request of two commits.

A before/after claim about the toolkit's per-request cost needs both measured
in one run on this noisy machine, not one figure from last week's report. Each
commit is checked out into a temporary worktree and serves `bench.serve ping
--mode mtls` (its own toolkit and its own bench app); the load generator of
this checkout alternates between them, round by round, and the medians and
spreads are printed. AFTER defaults to HEAD. `make bench-compare BEFORE=rev`.

With --chain (`make bench-compare BEFORE=rev CHAIN=1`) each commit runs its own
`python -m orders` and `python -m payments` (mTLS, on their SQLite files) and
the storefront's orders alternate between the two pairs: the orders+payments
CPU per order of each commit, side by side.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import chain
from bench.keepalive import load
from bench.pki import make_pki, server_env
from bench.procs import Worker
from bench.profile import PROFILES
from bench.results import load_figures
from harness.ports import free_port
from harness.processes import REPO, ServerProcess

SOURCE_DIRS = chain.SOURCE_DIRS


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


def compare_chain(revs: list[str], profile_name: str) -> dict[str, str]:
    """rev -> 'median (low-high) µs/order' of orders+payments CPU, measured alternately."""
    profile = PROFILES[profile_name]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        work = Path(scratch)
        pki, logs, data = make_pki(work / "pki"), work / "logs", work / "data"
        logs.mkdir()
        data.mkdir()
        with worktree(revs[0], work) as before, worktree(revs[1], work) as after:
            labels = {rev: f"{index}-" for index, rev in enumerate(revs)}
            pairs = {
                rev: chain.start_pair("mtls", pki, data, logs, tree, labels[rev])
                for rev, tree in zip(revs, (before, after), strict=True)
            }
            loadgen = Worker("bench.loadgen", logs / "loadgen.log")
            runs: dict[str, list[dict[str, Any]]] = {rev: [] for rev in revs}
            try:
                for pair in pairs.values():
                    for server in pair.servers.values():
                        server.wait_listening()
                for round_no in range(profile.rounds * 2):  # A B B A A B B A ...
                    rev = revs[(round_no + round_no // 2) % 2]
                    runs[rev].append(
                        chain.load_orders(
                            loadgen, pairs[rev], "mtls", pki, data, profile, labels[rev]
                        )
                    )
            finally:
                loadgen.stop()
                for pair in pairs.values():
                    pair.stop()
    figures = {rev: load_figures(r) for rev, r in runs.items()}
    return {
        rev: f"{f.server_us_per_request.show()} µs/order, {f.rps.show()} orders/s"
        for rev, f in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--chain", action="store_true", help="the whole chain on SQLite")
    args = parser.parse_args()
    revs = [args.before, args.after]
    if args.chain:
        for rev, figure in compare_chain(revs, args.profile).items():
            print(f"{rev}: chain on SQLite: orders+payments CPU {figure} (median, low-high)")
        return
    for rev, figure in compare(revs, args.profile).items():
        print(f"{rev}: kept-alive mTLS GET /ping: server CPU {figure} (median, low-high)")


if __name__ == "__main__":
    main()
