"""How long each measurement runs: `full` (make bench), `quick` (CI), `smoke` (a test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int  # interleaved rounds of keep-alive and chain runs
    handshake_rounds: int
    conns: int  # kept-alive connections of the load generator (the chain's concurrency too)
    warmup: float  # seconds of load before a measuring window opens
    duration: float  # seconds of a measuring window
    handshakes: int  # new connections per handshake run
    context_builds: int  # SSLContexts built per variant


PROFILES = {
    "full": Profile("full", 5, 5, 16, 1.0, 6.0, 300, 40),
    "quick": Profile("quick", 2, 1, 16, 0.4, 1.5, 40, 10),
    "smoke": Profile("smoke", 1, 1, 4, 0.2, 0.5, 6, 3),
}
