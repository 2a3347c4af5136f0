"""`python -m devpki renewer`: renew every leaf of the PKI before it expires, on a schedule.

The seeds' checklist says "automate renewal, rotate before expiry"; `make renew`
is a command someone must remember. The renewer is the long-running form of
the PKI step: it runs where the CA keys are, looks at every leaf each
`--interval` (daily by default, like a Spring `@Scheduled` check) and renews
the ones inside their renewal window with a new key (`DevPKI.renew`: same
names, EKU, key type and lifetime). The services take the new files through
their own reload; nothing restarts.

The window: the last third of a leaf's lifetime (`--fraction`), and no later
than 30 days before expiry (`--before-days`), but never more than half its
lifetime (a 60-second leaf renews at 30 seconds, not at once). A renewal that
fails is an audit line (`certificate renewal failed`, with the reason), counted,
and retried at the next check; the old certificate keeps serving until it
expires. The lines are the services' own JSON audit lines (`mtls.logs`).
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from mtls.logs import audit, configure_logging

from devpki.errors import PKIError
from devpki.pki import DevPKI

DAY_SECONDS = 86_400.0


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
    renewed: int = 0
    failed: int = 0

    def leaves(self) -> list[str]:
        """The leaf names of the PKI: every folder holding a cert.pem."""
        return sorted(p.parent.name for p in self.pki.directory.glob("*/cert.pem"))

    def check(self, now: datetime | None = None) -> list[str]:
        """Renew every leaf that is due; the names renewed."""
        moment = now or datetime.now(UTC)
        done = []
        for name in self.leaves():
            try:
                old = self.pki.leaf(name).certificate
                if not self.policy.due(old, moment):
                    continue
                new = self.pki.renew(name).certificate
            except (PKIError, OSError, ValueError) as exc:
                self.failed += 1
                audit("certificate renewal failed", logging.ERROR, leaf=name, reason=str(exc),
                      failures=self.failed)  # fmt: skip
                continue
            self.renewed += 1
            done.append(name)
            audit("certificate renewed", leaf=name, old_serial=f"{old.serial_number:x}",
                new_serial=f"{new.serial_number:x}", not_after=new.not_valid_after_utc,
                renewals=self.renewed)  # fmt: skip
        return done

    def run(self, interval: float, checks: int | None = None) -> None:
        """Check now, then every `interval` seconds (`checks` bounds it, for tests)."""
        audit("renewer started", directory=self.pki.directory, interval_s=interval,
            fraction=self.policy.fraction, before_days=self.policy.before.days)  # fmt: skip
        count = 0
        while checks is None or count < checks:
            self.check()
            count += 1
            time.sleep(interval)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `docker stop` sends SIGTERM: end between two renewals, quietly


def main(pki: DevPKI, interval: float, fraction: float, before_days: float) -> int:
    policy = RenewalPolicy(fraction, timedelta(days=before_days))
    signal.signal(signal.SIGTERM, _interrupt)
    configure_logging()  # the services' JSON lines: the same fields, the same log pipeline
    try:
        Renewer(pki, policy).run(interval)
    except KeyboardInterrupt:
        audit("renewer stopped")
    return 0
