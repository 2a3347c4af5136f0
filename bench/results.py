"""From raw runs to the figures of the report: medians, spread, ratios, verdicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.handshakes import Case
from bench.stats import Summary, summarize

CLIENT_BOUND_CORES = 0.85  # the load generator is single-threaded: one core is its ceiling


@dataclass
class LoadFigures:
    """One variant of a load run (kept-alive endpoint or chain), over rounds."""

    rps: Summary
    p50_ms: Summary
    p99_ms: Summary
    server_us_per_request: Summary
    server_cores: Summary
    client_cores: Summary
    errors: int
    handshakes: list[int] = field(default_factory=list)
    requests: int = 0
    events_pending: list[int] = field(default_factory=list)
    database_us_per_request: Summary | None = None  # PostgreSQL's own CPU, when under it

    @property
    def client_bound(self) -> bool:
        return self.client_cores.median >= CLIENT_BOUND_CORES


def load_figures(runs: list[dict[str, Any]]) -> LoadFigures:
    return LoadFigures(
        rps=summarize([r["rps"] for r in runs]),
        p50_ms=summarize([r["p50_ms"] for r in runs]),
        p99_ms=summarize([r["p99_ms"] for r in runs]),
        server_us_per_request=summarize(
            [1e6 * sum(r["server_cpu_s"]) / max(1, r["requests"]) for r in runs]
        ),
        server_cores=summarize([sum(r["server_cpu_s"]) / r["seconds"] for r in runs]),
        client_cores=summarize([r["client_cpu_s"] / r["seconds"] for r in runs]),
        errors=sum(r["errors"] for r in runs),
        handshakes=[sum(r.get("handshakes", [])) for r in runs],
        requests=sum(r["requests"] for r in runs),
        events_pending=[r["events_pending"] for r in runs if "events_pending" in r],
        database_us_per_request=summarize(
            [1e6 * r["database_cpu_s"] / max(1, r["requests"]) for r in runs]
        )
        if any(r.get("database_cpu_s") for r in runs)
        else None,
    )


def round_ratios(runs: dict[str, list[dict[str, Any]]], top: str, base: str) -> Summary:
    """top/base throughput of each interleaved round (the spread of the ratio)."""
    return summarize([t["rps"] / b["rps"] for t, b in zip(runs[top], runs[base], strict=True)])


@dataclass
class HandshakeFigures:
    per_second: Summary
    server_ms: Summary
    client_ms: Summary
    resumed: float  # fraction of connections the client saw resumed


def handshake_figures(runs: list[dict[str, Any]]) -> HandshakeFigures:
    return HandshakeFigures(
        per_second=summarize([r["per_second"] for r in runs]),
        server_ms=summarize([1e3 * r["server_cpu_s"] / r["connections"] for r in runs]),
        client_ms=summarize([1e3 * r["client_cpu_s"] / r["connections"] for r in runs]),
        resumed=sum(r["resumed"] for r in runs) / max(1, sum(r["connections"] for r in runs)),
    )


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool


@dataclass
class Results:
    keepalive: dict[str, LoadFigures]
    keepalive_ratio: dict[str, Summary]  # per-round ratio to plain, by mode
    handshakes: dict[Case, HandshakeFigures]
    chain: dict[str, LoadFigures]
    chain_ratio: Summary
    contexts_ms: dict[str, Summary]
    verdicts: list[Verdict]
    # /health latency (p50, p99 in ms) of an honest caller, by attack running beside it
    attacks: dict[str, tuple[Summary, Summary]] = field(default_factory=dict)


def _ratio(top: float, base: float) -> float:
    return top / base if base else float("nan")


def evaluate(raw: dict[str, Any]) -> Results:
    keepalive = {mode: load_figures(runs) for mode, runs in raw["keepalive"].items()}
    keepalive_ratio = {
        mode: round_ratios(raw["keepalive"], mode, "plain")
        for mode in raw["keepalive"]
        if mode != "plain"
    }
    handshakes = {case: handshake_figures(runs) for case, runs in raw["handshakes"].items()}
    chain = {mode: load_figures(runs) for mode, runs in raw["chain"].items()}
    chain_ratio = round_ratios(raw["chain"], "mtls", "plain")
    # Our server coalesces a response's writes on TLS connections; plain uvicorn does not.
    # The like-for-like ratio is against plain HTTP with the same coalescing.
    kept_same_writes = round_ratios(raw["keepalive"], "mtls", "plain-coalesced")
    contexts = {label: summarize(costs) for label, costs in raw["contexts"].items()}
    attacks = {
        mode: (summarize([r["p50_ms"] for r in runs]), summarize([r["p99_ms"] for r in runs]))
        for mode, runs in raw.get("attacks", {}).items()
    }
    return Results(
        keepalive,
        keepalive_ratio,
        handshakes,
        chain,
        chain_ratio,
        contexts,
        _verdicts(keepalive_ratio["mtls"], kept_same_writes, chain_ratio, handshakes, chain),
        attacks,
    )


def _verdicts(
    kept_ratio: Summary,
    kept_same_writes: Summary,
    chain_ratio: Summary,
    handshakes: dict[Case, HandshakeFigures],
    chain: dict[str, LoadFigures],
) -> list[Verdict]:
    """Throughput targets are judged on the median of the rounds' ratios: each round
    pairs variants measured minutes apart at most, so a noisy neighbour hits both."""
    kept, whole = kept_ratio.median, chain_ratio.median
    ours = handshakes[Case("ours", "p256", "1.3", False)].server_ms.median
    raw = handshakes[Case("openssl", "p256", "1.3", False)].server_ms.median
    cpu = _ratio(ours, raw)
    steady = chain["mtls"].handshakes
    per_request = sum(steady) / max(1, chain["mtls"].requests)
    return [
        Verdict(
            "kept-alive mTLS >= 95% of plain HTTP req/s",
            f"{kept:.1%} (rounds {kept_ratio.low:.0%}-{kept_ratio.high:.0%})",
            kept >= 0.95,
        ),
        Verdict(
            "kept-alive mTLS >= 95% of plain HTTP with the same write coalescing",
            f"{kept_same_writes.median:.1%} "
            f"(rounds {kept_same_writes.low:.0%}-{kept_same_writes.high:.0%})",
            kept_same_writes.median >= 0.95,
        ),
        Verdict(
            "whole chain over mTLS >= 90% of plain HTTP req/s",
            f"{whole:.1%} (rounds {chain_ratio.low:.0%}-{chain_ratio.high:.0%})",
            whole >= 0.90,
        ),
        Verdict(
            "server CPU per full handshake <= 1.1x openssl s_server (P-256, TLS 1.3)",
            f"{cpu:.2f}x ({ours:.2f} ms vs {raw:.2f} ms)",
            cpu <= 1.1,
        ),
        Verdict(
            "zero handshakes per request in steady state (whole chain, mTLS)",
            f"{sum(steady)} handshakes in {chain['mtls'].requests} requests "
            f"({per_request:.4f} per request)",
            sum(steady) == 0,
        ),
    ]


def as_json(results: Results) -> dict[str, Any]:
    """What a run measured, machine-readable (`python -m bench --json FILE`)."""
    return {
        "keepalive": {mode: asdict(figures) for mode, figures in results.keepalive.items()},
        "chain": {mode: asdict(figures) for mode, figures in results.chain.items()},
        "handshakes": {
            str(case): {**asdict(figures), "resume": case.resume}
            for case, figures in results.handshakes.items()
        },
        "verdicts": [asdict(verdict) for verdict in results.verdicts],
    }
