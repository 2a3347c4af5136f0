"""The report of a run: a table on stdout, docs/benchmarks.md and a plot."""

from __future__ import annotations

from pathlib import Path

from bench.handshakes import SCALE_CASES, VARIANTS, Case
from bench.notes import METHOD, TRIED
from bench.results import LoadFigures, Results
from bench.stats import Summary

MODE_NAMES = {
    "plain": "plain HTTP",
    "plain-coalesced": "plain HTTP, writes coalesced",
    "tls": "TLS (server only)",
    "mtls": "mTLS",
    "mtls+postgres": "mTLS, on PostgreSQL (TLS 1.3, certificate login)",
    "mtls+postgres-plain-tcp": "mTLS, on PostgreSQL in plain TCP (bench only)",
}


SHORT_NAMES = {
    "plain": "plain",
    "plain-coalesced": "plain,\ncoalesced",
    "tls": "TLS",
    "mtls": "mTLS",
}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _unrated(mode: str) -> str:
    return "100%" if mode == "plain" else "-"


def _load_rows(figures: dict[str, LoadFigures], ratio: dict[str, Summary]) -> list[list[str]]:
    rows = []
    for mode, f in figures.items():
        rows.append(
            [
                MODE_NAMES[mode],
                f.rps.show(),
                ratio[mode].show("{:.1%}") if mode in ratio else _unrated(mode),
                f.p50_ms.show("{:.2f}"),
                f.p99_ms.show("{:.2f}"),
                f.server_us_per_request.show(),
                f.server_cores.show("{:.2f}"),
                f.client_cores.show("{:.2f}") + (" (client-bound)" if f.client_bound else ""),
                str(f.errors),
            ]
        )
    return rows


LOAD_HEADER = [
    "transport",
    "req/s",
    "vs plain",
    "p50 ms",
    "p99 ms",
    "server CPU µs/req",
    "server cores",
    "client cores",
    "errors",
]


def keepalive_table(results: Results) -> list[str]:
    return _table(LOAD_HEADER, _load_rows(results.keepalive, results.keepalive_ratio))


def bottleneck(figures: dict[str, LoadFigures]) -> str:
    """Who set the pace: the load generator is single-threaded, so ~1 core is its limit."""
    busiest = max(f.client_cores.high for f in figures.values())
    servers = min(f.server_cores.median for f in figures.values())
    if any(f.client_bound for f in figures.values()):
        return f"The load generator reached {busiest:.2f} cores: it, not the server, set the pace."
    return (
        f"The load generator used at most {busiest:.2f} cores while the servers used "
        f"{servers:.2f} or more: the servers set the pace, not the client."
    )


def chain_table(results: Results) -> list[str]:
    rows = _load_rows(results.chain, {"mtls": results.chain_ratio})
    header = [*LOAD_HEADER, "PostgreSQL CPU µs/req", "handshakes in windows",
              "events not yet delivered at the end"]  # fmt: skip
    for row, mode in zip(rows, results.chain, strict=True):
        figures = results.chain[mode]
        database = figures.database_us_per_request
        row.append(database.show() if database else "n/a (SQLite, in the services)")
        row.append(" + ".join(map(str, figures.handshakes)) if mode != "plain" else "n/a (no TLS)")
        row.append(", ".join(map(str, figures.events_pending)))
    header[5] = "orders+payments CPU µs/req"
    header[6] = "orders+payments cores"
    return _table(header, rows)


def database_costs(results: Results) -> list[str]:
    """What PostgreSQL costs beside SQLite, and what TLS costs on the database hop."""
    chain = results.chain
    if "mtls+postgres" not in chain:
        return []
    sqlite, postgres = chain["mtls"], chain["mtls+postgres"]
    plain_tcp = chain.get("mtls+postgres-plain-tcp")

    def total(f: LoadFigures) -> float:
        database = f.database_us_per_request.median if f.database_us_per_request else 0.0
        return f.server_us_per_request.median + database

    lines = [
        f"- PostgreSQL against SQLite: {postgres.rps.median / sqlite.rps.median:.0%} of the "
        f"orders/s; the services' CPU per order {postgres.server_us_per_request.median:.0f} µs "
        f"against {sqlite.server_us_per_request.median:.0f} µs, and with PostgreSQL's own "
        f"{total(postgres):.0f} µs in all.",
    ]
    if plain_tcp is not None:
        lines.append(
            f"- TLS on the database hop: {total(postgres):.0f} µs per order in all (services "
            f"and PostgreSQL) with TLS 1.3, {total(plain_tcp):.0f} µs in plain TCP "
            f"({total(postgres) / max(1.0, total(plain_tcp)):.2f}x); req/s "
            f"{postgres.rps.median:.0f} against {plain_tcp.rps.median:.0f}. The connections "
            "are pooled, so TLS costs its record layer, not handshakes."
        )
    return lines


def handshake_table(results: Results) -> list[str]:
    rows = []
    for key, tls, resume in VARIANTS:
        ours = results.handshakes[Case("ours", key, tls, resume)]
        raw = results.handshakes[Case("openssl", key, tls, resume)]
        ratio = ours.server_ms.median / raw.server_ms.median if raw.server_ms.median else 0.0
        rows.append(
            [
                Case("ours", key, tls, resume).label,
                ours.per_second.show(),
                raw.per_second.show(),
                ours.server_ms.show("{:.2f}"),
                raw.server_ms.show("{:.2f}"),
                f"{ratio:.2f}x",
                f"{ours.client_ms.median:.2f}",
                f"{ours.resumed:.0%} / {raw.resumed:.0%}",
            ]
        )
    header = [
        "case",
        "ours conn/s",
        "s_server conn/s",
        "ours server CPU ms/conn",
        "s_server CPU ms/conn",
        "ours / s_server",
        "client CPU ms/conn",
        "resumed (ours / s_server)",
    ]
    return _table(header, rows)


def scale_table(results: Results) -> list[str]:
    labels = ("plain TCP, no TLS", "TLS 1.3, no client certificate")
    labelled = [(label, results.handshakes[case]) for case, label in zip(SCALE_CASES, labels,
                                                                          strict=True)]  # fmt: skip
    full = results.handshakes[Case("ours", "p256", "1.3", False)]
    labelled.append(("mTLS 1.3 (from the table above)", full))
    rows = [[label, f.per_second.show(), f.server_ms.show("{:.2f}"), f.client_ms.show("{:.2f}")]
            for label, f in labelled]  # fmt: skip
    header = ["new connection to our server, P-256", "conn/s",
              "server CPU ms/conn", "client CPU ms/conn"]  # fmt: skip
    return _table(header, rows)


def context_table(results: Results) -> list[str]:
    rows = [[label, s.show("{:.2f}")] for label, s in results.contexts_ms.items()]
    return _table(["one client SSLContext", "CPU ms (min-max)"], rows)


def attack_table(results: Results) -> list[str]:
    quiet = results.attacks.get("none")
    rows = []
    for mode, (p50, p99) in results.attacks.items():
        versus = f"{p99.median / quiet[1].median:.1f}x" if quiet and quiet[1].median else "-"
        rows.append([mode, p50.show("{:.2f}"), p99.show("{:.2f}"), versus])
    header = ["attack beside the caller", "p50 ms", "p99 ms", "p99 vs no attack"]
    return _table(header, rows)


def verdict_table(results: Results) -> list[str]:
    rows = [[v.target, v.measured, "met" if v.met else "NOT met"] for v in results.verdicts]
    return _table(["target", "measured (medians)", "verdict"], rows)


def text(results: Results, facts: dict[str, str], profile: str, plot: str | None) -> str:
    """The whole report as markdown (also what is printed, minus the notes)."""
    lines = [
        "# Benchmarks: what mTLS costs here",
        "",
        f"Written by `make bench` (profile `{profile}`); do not edit by hand: "
        "the notes come from `bench/notes.py`.",
        "Figures are medians over interleaved rounds, with the smallest and largest "
        "round in parentheses.",
        "",
        "## Verdicts",
        "",
        *verdict_table(results),
        "",
        "## One endpoint, kept-alive connections",
        "",
        *keepalive_table(results),
        "",
        bottleneck(results.keepalive),
        "",
        "## Full handshakes: our server against `openssl s_server`",
        "",
        *handshake_table(results),
        "",
        "For scale, the same app and request on a new connection without TLS, with TLS but "
        "no client certificate, and with mTLS:",
        "",
        *scale_table(results),
        "",
        "## The whole chain: storefront -> orders -> payments, and the event back",
        "",
        *chain_table(results),
        "",
        bottleneck(results.chain)
        + " The services' own clients (orders -> payments, payments -> orders) are inside "
        "their CPU figures.",
        "",
        *database_costs(results),
        "",
        "## Building one client SSLContext",
        "",
        *context_table(results),
        "",
        "## `/health` for an honest caller while an attack runs (bench/attacks.py)",
        "",
        *attack_table(results),
        "",
        "The oversized-body attacker announces 11 MB and is refused (413) before a byte is "
        "read; the slow-header attacker keeps 64 connections dribbling one byte every 0.2 s "
        "and is cut off after MTLS_HEADER_TIMEOUT. Both hold valid client certificates.",
        "",
    ]
    if plot:
        lines += [f"![the main ratios]({plot})", ""]
    lines += ["## Machine", "", *_table(["fact", "value"], [[k, v] for k, v in facts.items()])]
    lines += ["", METHOD, "", TRIED]
    return "\n".join(lines) + "\n"


def draw(results: Results, path: Path) -> None:
    """Three panels: kept-alive and chain throughput relative to plain, handshake CPU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4.6))
    ratios = [
        ("kept-alive\nplain,\ncoalesced", results.keepalive_ratio["plain-coalesced"], None),
        ("kept-alive\nTLS", results.keepalive_ratio["tls"], None),
        ("kept-alive\nmTLS", results.keepalive_ratio["mtls"], 0.95),
        ("chain\nmTLS", results.chain_ratio, 0.90),
    ]
    for i, (_, ratio, target) in enumerate(ratios):
        errors = [[ratio.median - ratio.low], [ratio.high - ratio.median]]
        left.bar([i], [ratio.median], 0.6, yerr=errors, color="tab:blue")
        if target:
            left.hlines(target, i - 0.4, i + 0.4, colors="tab:red", linestyles="dashed")
    left.set_xticks(range(len(ratios)), [label for label, _, _ in ratios])
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set_ylabel("req/s relative to plain HTTP (median, round min-max)")
    left.set_title("Throughput vs plain HTTP (red: target)")
    left.set_ylim(0, max(1.2, *(ratio.high * 1.08 for _, ratio, _ in ratios)))

    labels = [
        Case("ours", *v).label.replace(" ", "\n", 1).replace(" resumed", "\nresumed")
        for v in VARIANTS
    ]
    for offset, server, colour in ((-0.2, "ours", "tab:green"), (0.2, "openssl", "tab:grey")):
        medians = [results.handshakes[Case(server, *v)].server_ms for v in VARIANTS]
        xs = [i + offset for i in range(len(VARIANTS))]
        errors = [[s.median - s.low for s in medians], [s.high - s.median for s in medians]]
        name = "our server" if server == "ours" else "openssl s_server"
        middle.bar(xs, [s.median for s in medians], 0.4, yerr=errors, color=colour, label=name)
    middle.set_xticks(range(len(VARIANTS)), labels, fontsize=8)
    middle.set_ylabel("server CPU ms per new connection")
    middle.set_title("Handshake cost (mTLS, client cert required)")
    middle.legend()

    modes = list(results.keepalive)
    cpu = [results.keepalive[m].server_us_per_request for m in modes]
    errors = [[s.median - s.low for s in cpu], [s.high - s.median for s in cpu]]
    right.bar(range(len(modes)), [s.median for s in cpu], yerr=errors, color="tab:purple")
    right.set_xticks(range(len(modes)), [SHORT_NAMES[m] for m in modes])
    right.set_ylabel("server CPU µs per kept-alive request")
    right.set_title("Per-request server CPU")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
