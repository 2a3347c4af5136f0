"""Support for the live-session tests: short-lived certificates and `openssl s_client` sessions.

`s_client` runs the seed's own command (`-cert <name>/cert.pem`, the leaf file
only) and saves (-sess_out) or resumes (-sess_in) a TLS session, so a test can
show what a resumed session without any certificate is allowed to do.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devpki import DevPKI, Leaf

LIFETIME = timedelta(seconds=6)
REQUEST = "GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def short_lived(
    pki: DevPKI, name: str, lifetime: timedelta = LIFETIME, principal: str = "storefront"
) -> Leaf:
    """A client certificate for `principal` that expires `lifetime` from now."""
    spiffe_id = f"spiffe://{pki.trust_domain}/{principal}"
    return pki.issue(name, client_only=True, spiffe_id=spiffe_id, lifetime=lifetime)


def wait_until_expired(leaf: Leaf) -> None:
    left = (leaf.certificate.not_valid_after_utc - datetime.now(UTC)).total_seconds()
    time.sleep(max(0.0, left) + 1.1)


def s_client(
    pki: DevPKI,
    port: int,
    session: Path,
    *,
    leaf: Leaf | None,
    save: bool,
    request: str = REQUEST,
) -> subprocess.CompletedProcess[str]:
    """`openssl s_client`, as the seed runs it, sending one request; saves or resumes a session.

    With `leaf` the client presents it (-cert/-key, the leaf file only, as the seed does);
    without, it sends no certificate at all and can only get in by resuming `session`.
    """
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"]
    args += ["-CAfile", str(pki.ca_cert_path), "-verify_return_error", "-ign_eof"]
    if leaf is not None:
        args += ["-cert", str(leaf.cert_path), "-key", str(leaf.key_path)]
    args += ["-sess_out" if save else "-sess_in", str(session)]
    return subprocess.run(
        args, input=request, capture_output=True, text=True, timeout=30, check=False
    )


def served(result: subprocess.CompletedProcess[str]) -> bool:
    return "HTTP/1.1 200" in result.stdout


def resumed(result: subprocess.CompletedProcess[str]) -> bool:
    return "Reused, TLSv1.3" in result.stdout


def session_text(session: Path) -> str:
    args = ["openssl", "sess_id", "-in", str(session), "-noout", "-text"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout
