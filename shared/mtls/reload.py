"""The TLS contexts in use, rebuilt when the certificate files change.

Certificates are rotated by writing new files (atomic rename, a Kubernetes
symlink swap, or an in-place write). `TLSContexts.refresh` notices a change by
content, checks the new material as strictly as at start-up and swaps in new
contexts only when the whole set is consistent; a half-written pair is ignored
and the last good material stays in use. The server takes the current context
at each handshake and the client at each new connection pool, so nothing
restarts and no request fails.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from mtls import certfacts
from mtls.contexts import client_context, server_context
from mtls.logs import audit
from mtls.material import (
    MaterialError,
    Role,
    TLSMaterial,
    chain_is_anchored,
    load_material,
    material_digest,
)
from mtls.metrics import CERTIFICATE_EXPIRY, CRL_NEXT_UPDATE, CRL_THIS_UPDATE, RELOADS
from mtls.settings import TLSSettings

logger = logging.getLogger(__name__)


class TLSContexts:
    """The process's TLS material and the contexts built from it, once per version."""

    def __init__(
        self, settings: TLSSettings, roles: tuple[Role, ...] = (Role.SERVER, Role.CLIENT)
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.generation = 0
        self._rejected_digest: str | None = None
        self._listeners: list[Callable[[TLSMaterial], object]] = []
        self._apply(*self._build())  # MaterialError here stops the process before it listens

    @property
    def server(self) -> ssl.SSLContext:
        if self._server is None:
            raise RuntimeError("these contexts were built without the server role")
        return self._server

    @property
    def client(self) -> ssl.SSLContext:
        if self._client is None:
            raise RuntimeError("these contexts were built without the client role")
        return self._client

    def on_reload(self, listener: Callable[[TLSMaterial], object]) -> None:
        """Call `listener(new_material)` after each swap (the server re-checks open connections)."""
        self._listeners.append(listener)

    def _build(self) -> tuple[TLSMaterial, ssl.SSLContext | None, ssl.SSLContext | None]:
        material = load_material(self.settings, self.roles)
        server = server_context(material) if Role.SERVER in self.roles else None
        client = client_context(material) if Role.CLIENT in self.roles else None
        return material, server, client

    def _apply(
        self, material: TLSMaterial, server: ssl.SSLContext | None, client: ssl.SSLContext | None
    ) -> None:
        self.material, self._server, self._client = material, server, client
        subject = material.leaf.subject.rfc4514_string()
        for role in self.roles:
            CERTIFICATE_EXPIRY.labels(role.name.lower(), subject).set(
                material.leaf.not_valid_after_utc.timestamp()
            )
        for crl in material.crls:
            issuer = crl.issuer.rfc4514_string()
            CRL_THIS_UPDATE.labels(issuer).set(crl.last_update_utc.timestamp())
            if crl.next_update_utc is not None:
                CRL_NEXT_UPDATE.labels(issuer).set(crl.next_update_utc.timestamp())

    def refresh(self) -> bool:
        """Swap in new contexts if the files changed and are consistent; True if swapped."""
        digest = material_digest(self.settings)
        if digest is None or digest == self.material.digest or digest == self._rejected_digest:
            return False
        try:
            material, server, client = self._build()
            if material_digest(self.settings) != material.digest:
                raise MaterialError("the files changed while they were being loaded; retrying")
            if chain_is_anchored(self.material) and not chain_is_anchored(material):
                raise MaterialError(
                    f"MTLS_CERT={self.settings.cert_path}: the new chain does not lead to a CA "
                    f"in MTLS_CA={self.settings.ca_path} (intermediate missing, or a new CA "
                    "not yet trusted: add it to the bundle first)"
                )
        except (MaterialError, ssl.SSLError, OSError) as exc:
            self._rejected_digest = digest
            RELOADS.labels("skipped").inc()
            audit("tls material reload skipped", logging.WARNING, reason=str(exc))
            return False
        old_serial = self.material.leaf.serial_number
        self._apply(material, server, client)
        self.generation += 1
        self._rejected_digest = None
        RELOADS.labels("reloaded").inc()
        audit(
            "tls material reloaded",
            old_serial=f"{old_serial:x}",
            **certfacts.event_fields(material.leaf),
        )
        for listener in self._listeners:
            try:
                listener(material)
            except Exception:  # the new material is in use either way
                logger.exception("a certificate reload listener failed")
        return True

    async def watch(self) -> None:
        """Check the files every `reload_interval` seconds until cancelled."""
        interval = self.settings.reload_interval
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                self.refresh()
            except Exception:  # a watcher that dies silently would stop rotation
                logger.exception("certificate reload check failed; will retry")
