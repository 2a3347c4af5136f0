"""`/health` latency for an honest caller, with and without an attack running beside it.

The limits of `mtls.limits` refuse an oversized body before it is read and cut
off a request head that dribbles in; what matters to everyone else is that the
server stays responsive meanwhile. One mTLS server (the bench's ping app, with
the toolkit's defaults); an honest client on one kept-alive connection asks
`/health` every 10 ms and times each answer, while `bench.attacker` runs (or
not) in another process. Modes rotate per round, like the other measurements.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.pki import server_env
from bench.profile import Profile
from bench.stats import percentile
from harness.clients import cached_toolkit_client_context as cached_client_context
from harness.ports import free_port
from harness.processes import REPO, ServerProcess, process_env, stop_process

MODES = ("none", "oversized-body", "slow-headers")
PACE = 0.01  # seconds between the honest caller's requests


def _honest_latencies(port: int, pki: Path, seconds: float) -> list[float]:
    who = pki / "ops"
    context = cached_client_context(who / "chain.pem", who / "key.pem", pki / "ca.crt")
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    latencies, until = [], time.monotonic() + seconds
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            connection.request("GET", "/health")
            answer = connection.getresponse()
            answer.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"/health answered {answer.status} to the honest caller")
            time.sleep(PACE)
    finally:
        connection.close()
    return sorted(latencies)


def _one_run(mode: str, port: int, pki: Path, profile: Profile, log: Path) -> dict[str, Any]:
    attacker = None
    seconds = profile.warmup + profile.duration
    if mode != "none":
        args = [sys.executable, "-m", "bench.attacker", mode, str(port), str(pki), str(seconds)]
        attacker = subprocess.Popen(
            args, cwd=REPO, env=process_env({}), stdout=subprocess.PIPE, stderr=log.open("a"),
            text=True,
        )  # fmt: skip
        time.sleep(profile.warmup)
    latencies = _honest_latencies(port, pki, profile.duration)
    achieved: dict[str, Any] = {}
    if attacker is not None:
        try:
            out, _ = attacker.communicate(timeout=seconds + 30)
            achieved = json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, IndexError, ValueError):
            stop_process(attacker)
    return {
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "requests": len(latencies),
        "attacker": achieved,
    }


def measure(pki: Path, logs: Path, profile: Profile) -> dict[str, list[dict[str, Any]]]:
    port = free_port()
    args = ["ping", "--mode", "mtls", "--port", str(port)]
    server = ServerProcess("bench.serve", server_env(pki, "orders"), port, args,
                           log=logs / "attack-target.log").wait_listening()  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    try:
        for round_no in range(min(profile.rounds, 3)):
            order = MODES[round_no % len(MODES) :] + MODES[: round_no % len(MODES)]
            for mode in order:
                runs[mode].append(_one_run(mode, port, pki, profile, logs / "attacker.log"))
    finally:
        server.stop()
    return runs
