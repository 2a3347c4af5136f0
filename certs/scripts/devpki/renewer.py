"""`python -m devpki renewer`: renew every leaf of the PKI before it expires, on a schedule.

The seeds' checklist says "automate renewal, rotate before expiry"; `make renew`
is a command someone must remember. The renewer is the long-running form of
the PKI step: it runs where the CA keys are, looks at every leaf each
`--interval` (daily by default, like a Spring `@Scheduled` check) and renews
the ones inside their renewal window with a new key (`DevPKI.renew`: same
names, EKU, key type and lifetime; it writes the `certificate renewed` line).
The services take the new files through their own reload; nothing restarts.

The window: the last third of a leaf's lifetime (`--fraction`), and no later
than 30 days before expiry (`--before-days`), but never more than half its
lifetime (a 60-second leaf renews at 30 seconds, not at once). A renewal that
fails is an audit line (`certificate renewal failed`, with the reason), counted
(`mtls_certificate_renewals_total`, and `mtls_certificate_renewal_failures` in
a row, which the RenewalsFailing alert watches), and retried at the next check;
the old certificate keeps serving until it expires.

With `--listen [HOST:]PORT` the renewer is an mTLS service of the toolkit too, with
its own leaf (`renewer`): `/health` for anyone, `/metrics` for ops, so that
Prometheus scrapes it like the others. It serves nothing else: whoever reaches it
can read counters, never ask for a certificate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from mtls.certfacts import event_fields
from mtls.logs import audit, configure_logging
from mtls.metrics import RENEWAL_FAILURES, RENEWALS

from devpki.errors import PKIError
from devpki.pki import DIR_ENV, DevPKI

DAY_SECONDS = 86_400.0
RENEWER = "renewer"
CRL_ENV = "MTLS_CRL"  # TLSSettings.crl


@dataclass(frozen=True)
class RenewalPolicy:
    """When a leaf is due: its remaining life is inside the renewal window."""

    fraction: float = 1 / 3
    before: timedelta = timedelta(days=30)

    def window_for(self, lifetime: timedelta) -> timedelta:
        """How long before expiry a leaf of this lifetime is renewed."""
        return max(lifetime * self.fraction, min(self.before, lifetime / 2))

    def due(self, cert: x509.Certificate, now: datetime) -> bool:
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_after_utc - now <= self.window_for(lifetime)


@dataclass
class Renewer:
    pki: DevPKI
    policy: RenewalPolicy = field(default_factory=RenewalPolicy)
    failures: dict[str, int] = field(default_factory=dict)  # in a row, per leaf

    def check(self, now: datetime | None = None) -> list[str]:
        """Renew every leaf that is due; the names renewed."""
        moment = now or datetime.now(UTC)
        done = []
        for name in self.pki.leaves():
            old: x509.Certificate | None = None
            try:
                old = self.pki.leaf(name).certificate
                if not self.policy.due(old, moment):
                    continue
                self.pki.renew(name)
            except (PKIError, OSError, ValueError) as exc:
                self._failed(name, old, exc)
                continue
            self._counted(name, "renewed", 0)
            done.append(name)
        return done

    def _failed(self, name: str, old: x509.Certificate | None, exc: Exception) -> None:
        failures = self.failures.get(name, 0) + 1
        self._counted(name, "failed", failures)
        certificate = event_fields(old) if old is not None else {}
        audit("certificate renewal failed", logging.ERROR, leaf=name, reason=str(exc),
              failures=failures, **certificate)  # fmt: skip

    def _counted(self, name: str, result: str, failures: int) -> None:
        self.failures[name] = failures
        RENEWALS.labels(name, result).inc()
        RENEWAL_FAILURES.labels(name).set(failures)

    def started(self, interval: float) -> None:
        audit("renewer started", directory=self.pki.directory, interval_s=interval,
              fraction=self.policy.fraction, before_days=self.policy.before.days)  # fmt: skip

    def run(self, interval: float, checks: int | None = None) -> None:
        """Check now, then every `interval` seconds (`checks` bounds it, for tests)."""
        self.started(interval)
        count = 0
        while checks is None or count < checks:
            self.check()
            count += 1
            time.sleep(interval)

    async def run_async(self, interval: float) -> None:
        """`run` beside a server: each check in a thread, so requests never wait for it."""
        self.started(interval)
        while True:
            await asyncio.to_thread(self.check)
            await asyncio.sleep(interval)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `docker stop` sends SIGTERM: end between two renewals, quietly


def _listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


def _serve(renewer: Renewer, interval: float, listen: str) -> None:
    # Imported here: the plain renewer (`make renewer`) needs no web stack.
    from mtls import TLSContexts, secure_app, service_app
    from mtls.process import run_service

    def build_app(contexts: TLSContexts) -> Any:
        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            task = asyncio.create_task(renewer.run_async(interval))
            yield
            task.cancel()

        app = service_app(RENEWER, "Renews the PKI's leaves; /health and /metrics only.", lifespan)
        return secure_app(app, contexts)

    # Its own leaf and the PKI's trust files, unless MTLS_* say otherwise.
    os.environ.setdefault(DIR_ENV, str(renewer.pki.directory))
    os.environ.setdefault(CRL_ENV, str(renewer.pki.crl_path))
    host, port = _listen_address(listen)
    run_service(RENEWER, build_app, host=host, port=port, identity=RENEWER)


def main(
    pki: DevPKI, interval: float, fraction: float, before_days: float, listen: str | None = None
) -> int:
    renewer = Renewer(pki, RenewalPolicy(fraction, timedelta(days=before_days)))
    if listen:
        _serve(renewer, interval, listen)
        audit("renewer stopped")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    configure_logging()  # the services' JSON lines: the same fields, the same log pipeline
    try:
        renewer.run(interval)
    except KeyboardInterrupt:
        audit("renewer stopped")
    return 0
