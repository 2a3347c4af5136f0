"""`make scenarios`: break mTLS on purpose against the running services, and explain it.

Each scenario makes one call the way a Python client would, reads what the
server logged from its counters (/metrics, with the ops certificate), and
asks the certificate doctor for the cause and the fix. The table at the end
shows all four side by side; a row is "as expected" when the call was
refused (or, for rotation, accepted) and the doctor named the right cause.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from mtls.doctor import Options, diagnose
from mtls.doctor.report import use_colour

from tools.lab import Attempt, Lab
from tools.scenarios_table import render
from tools.server_view import OPERATOR, ServerView

STOREFRONT = "storefront"


@dataclass(frozen=True)
class Scenario:
    title: str
    expected_cause: str  # what the doctor must name
    prepare: Callable[[Lab], Attempt]
    refused: bool = True


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    client_saw: str
    refused: bool
    server_logged: list[str]
    cause: str
    fix: str

    @property
    def as_expected(self) -> bool:
        return self.refused == self.scenario.refused and self.cause == self.scenario.expected_cause


def _spiffe(lab: Lab, name: str, domain: str | None = None) -> str:
    return f"spiffe://{domain or lab.services.trust_domain}/{name}"


def no_certificate(lab: Lab) -> Attempt:
    return lab.attempt("orders", "/health", None)


def wrong_ca(lab: Lab) -> Attempt:
    leaf = lab.other_ca.issue(STOREFRONT, client_only=True)
    return lab.attempt("orders", "/health", leaf)


def expired(lab: Lab) -> Attempt:
    leaf = lab.same_ca.issue(
        "expired", client_only=True, expired=True, spiffe_id=_spiffe(lab, STOREFRONT)
    )
    return lab.attempt("orders", "/health", leaf)


def wrong_identity(lab: Lab) -> Attempt:
    foreign = _spiffe(lab, STOREFRONT, "other.example")
    leaf = lab.same_ca.issue("foreign", client_only=True, spiffe_id=foreign)
    return lab.attempt("orders", "/health", leaf)


def forbidden_route(lab: Lab) -> Attempt:
    cert, key = lab.identity(STOREFRONT)
    return Attempt("payments", "/payments?order_id=any", cert, key)


def hostname_mismatch(lab: Lab) -> Attempt:
    cert, key = lab.identity(STOREFRONT)
    return Attempt("orders", "/health", cert, key, server_name="orders.invalid")


def tls12_only(lab: Lab) -> Attempt:
    cert, key = lab.identity(STOREFRONT)
    return Attempt("orders", "/health", cert, key, max_tls="1.2")


def revoked(lab: Lab, wait: float = 15.0) -> Attempt:
    """Revoke a fresh certificate, then wait until the services have reloaded their CRL."""
    leaf = lab.same_ca.issue("revoked", client_only=True, spiffe_id=_spiffe(lab, STOREFRONT))
    attempt = lab.attempt("orders", "/health", leaf)
    lab.revoke(leaf)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            lab.call(attempt)
        except httpx.HTTPError:
            return attempt
        time.sleep(0.5)
    return Attempt(**{**vars(attempt), "note": f"CRL not reloaded within {wait:.0f} s; "})


def rotated(lab: Lab) -> Attempt:
    """A renewed certificate (new key, new serial) is accepted at once, no restart."""
    old = lab.same_ca.issue("rotated", client_only=True, spiffe_id=_spiffe(lab, STOREFRONT))
    before = lab.call(lab.attempt("orders", "/health", old)).status_code
    new = lab.same_ca.renew("rotated")
    note = f"serial {old.serial:x}"[:19] + f"...: HTTP {before}; renewed: serial "
    note += f"{new.serial:x}"[:12] + "...: "
    return lab.attempt("orders", "/health", new, note=note)


SCENARIOS = (
    Scenario("no certificate", "certificate_required", no_certificate),
    Scenario("wrong CA", "unknown_ca", wrong_ca),
    Scenario("expired", "expired", expired),
    Scenario("wrong identity (foreign trust domain)", "identity_refused", wrong_identity),
    Scenario("forbidden route (storefront -> payments)", "forbidden", forbidden_route),
    Scenario("hostname mismatch (orders.invalid)", "hostname_mismatch", hostname_mismatch),
    Scenario("revoked", "revoked", revoked),
    Scenario("TLS version (client max 1.2)", "protocol_version", tls12_only),
    Scenario("rotated certificate", "ok", rotated, refused=False),
)


def client_view(lab: Lab, attempt: Attempt) -> tuple[str, bool]:
    """What the client saw, in its own words, and whether the call was refused."""
    try:
        response = lab.call(attempt)
    except httpx.HTTPError as exc:
        return f"{attempt.note}{type(exc).__name__}: {exc}", True
    detail = response.json().get("detail") if response.status_code >= 400 else None
    said = detail.get("message") or detail.get("reason") if isinstance(detail, dict) else ""
    return f"{attempt.note}HTTP {response.status_code} {said or ''}".strip(), response.is_error


def doctor_options(lab: Lab, attempt: Attempt) -> Options:
    """The doctor invocation that matches one attempt (`python -m mtls doctor ...`)."""
    return Options(
        url=lab.urls[attempt.service] + attempt.path,
        cert=attempt.cert,
        key=attempt.key,
        ca=lab.pki_dir / "ca.crt",
        server_name=attempt.server_name,
        max_tls=attempt.max_tls,
        trust_domain=lab.services.trust_domain,
    )


def run(lab: Lab, scenario: Scenario) -> Outcome:
    attempt = scenario.prepare(lab)
    ops = lab.context(Attempt("orders", "/metrics", *lab.identity(OPERATOR)))
    view = ServerView(lab.urls[attempt.service], ops)
    view.mark()
    saw, refused = client_view(lab, attempt)
    logged = view.lines()
    report = diagnose(doctor_options(lab, attempt))
    verdict = report.verdict
    return Outcome(scenario, saw, refused, logged, verdict.cause, verdict.fix or verdict.summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make scenarios", description=__doc__)
    parser.add_argument("--orders", default="https://localhost:8443")
    parser.add_argument("--payments", default="https://localhost:9443")
    parser.add_argument("--pki", type=Path, default=Path("certs/generated"))
    args = parser.parse_args(argv)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mtls-scenarios-") as scratch:
        lab = Lab(args.pki, Path(scratch), {"orders": args.orders, "payments": args.payments})
        for number, scenario in enumerate(SCENARIOS, start=1):
            print(f"[{number}/{len(SCENARIOS)}] {scenario.title} ...", file=sys.stderr)
            outcomes.append(run(lab, scenario))
    print(render(outcomes, use_colour(sys.stdout)))
    return 0 if all(o.as_expected for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
