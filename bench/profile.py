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
    chain_warmup: float  # seconds of load before a chain window: the pools fill up


PROFILES = {
    "full": Profile("full", 6, 5, 16, 1.0, 6.0, 300, 40, 2.0),
    "quick": Profile("quick", 2, 1, 16, 0.3, 1.0, 40, 10, 1.0),
    "smoke": Profile("smoke", 1, 1, 4, 0.2, 0.5, 6, 3, 0.5),
}
