"""TLS settings, read once from `MTLS_*` environment variables.

Every knob a deployment may turn lives here, so the configuration reference in
the README can be generated from this class and never drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRUST_DOMAIN = "demo.internal"
TRUST_DOMAIN_PATTERN = re.compile(r"^[a-z0-9._-]+$")
# Matched whole against the value of the one CN attribute (never the RFC 4514 string).
DEFAULT_CN_REGEX = r"([A-Za-z0-9._-]{1,64})"
KIB = 1024


class TLSSettings(BaseSettings):
    """Where the certificate material is and how strict the handshake is."""

    model_config = SettingsConfigDict(env_prefix="MTLS_", extra="ignore")

    pki_dir: Path = Field(
        Path("certs/generated"),
        description="Folder of the dev PKI; the default location of cert, key, CA and CRL.",
    )
    identity: str = Field(
        "",
        description="This process's name in the PKI (orders, payments, ...): picks "
        "<pki_dir>/<identity>/chain.pem and key.pem when cert and key are not set.",
    )
    cert: Path | None = Field(
        None, description="PEM certificate chain, leaf first (the 'keystore' certificate)."
    )
    key: Path | None = Field(None, description="PEM private key of the leaf (mode 0600).")
    key_password: SecretStr | None = Field(None, description="Password of the key, if encrypted.")
    ca: Path | None = Field(
        None,
        description="PEM bundle of trusted CAs (the 'truststore'); default <pki_dir>/ca.crt.",
    )
    crl: Path | None = Field(
        None,
        description="PEM CRL; when set, peers' leaf certificates are checked against it.",
    )
    min_tls_version: Literal["1.2", "1.3"] = Field(
        "1.3", description="Lowest TLS version accepted; 1.2 only for peers that need it."
    )
    trust_domain: str = Field(
        DEFAULT_TRUST_DOMAIN, description="SPIFFE trust domain whose identities are accepted."
    )
    principal_source: Literal["spiffe", "cn"] = Field(
        "spiffe",
        description="Where the caller's name comes from: the SPIFFE URI SAN, or the "
        "subject CN through cn_regex (like Spring's subjectPrincipalRegex).",
    )
    cn_regex: str = Field(
        DEFAULT_CN_REGEX,
        description="With principal_source=cn: regex matched whole against the value of the "
        "subject's one CN attribute (not the DN string); group 1 is the principal.",
    )
    expiry_warning_days: int = Field(
        30, ge=0, description="Health turns degraded this many days before a certificate expires."
    )
    reload_interval: float = Field(
        2.0,
        ge=0,
        description="Seconds between checks of the certificate files for changes (0: never).",
    )
    handshake_timeout: float = Field(
        10.0, gt=0, description="Seconds a peer has to finish the TLS handshake."
    )
    session_timeout: int = Field(
        300,
        ge=0,
        description="Seconds a TLS session (ticket) may be resumed; 0 turns resumption off. "
        "A resumed session's certificate is re-checked for expiry and revocation.",
    )
    max_body_bytes: int = Field(
        1024 * KIB, gt=0, description="Largest request body accepted; larger gets 413."
    )
    max_head_bytes: int = Field(
        64 * KIB, gt=0, description="Largest request line plus headers; larger gets 431."
    )
    first_request_timeout: float = Field(
        10.0, gt=0, description="Seconds after the handshake for the first request to begin."
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a request head may take once begun (slow headers)."
    )
    max_connections: int = Field(
        1024, gt=0, description="Open connections per process; more are closed at once."
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Proxies (comma-separated IPs or CIDRs) whose X-Forwarded-For/-Proto are "
        "honoured; empty: none, the logged peer is the TCP peer.",
    )

    @field_validator("trust_domain")
    @classmethod
    def _trust_domain_is_spiffe(cls, value: str) -> str:
        if not TRUST_DOMAIN_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a SPIFFE trust domain: use lowercase letters, digits, "
                "'.', '-' and '_' only (for example demo.internal), no scheme or path"
            )
        return value

    @field_validator("cn_regex")
    @classmethod
    def _cn_regex_has_a_group(cls, value: str) -> str:
        if re.compile(value).groups < 1:
            raise ValueError("cn_regex needs one capturing group: the principal's name")
        if "CN=" in value.upper():
            raise ValueError(
                "cn_regex is matched against the value of the CN attribute, not the DN "
                "string: drop 'CN=' (e.g. '(storefront|ops)'); a regex over the DN string is "
                'fooled by OU="x,CN=ops" (docs/troubleshooting.md)'
            )
        return value

    @property
    def cert_path(self) -> Path:
        return self.cert or self.pki_dir / self._identity_folder() / "chain.pem"

    @property
    def key_path(self) -> Path:
        return self.key or self.pki_dir / self._identity_folder() / "key.pem"

    @property
    def ca_path(self) -> Path:
        return self.ca or self.pki_dir / "ca.crt"

    def _identity_folder(self) -> str:
        if not self.identity:
            raise ValueError("set MTLS_CERT and MTLS_KEY, or MTLS_IDENTITY to use the dev PKI")
        return self.identity

    def material_paths(self) -> list[Path]:
        """The files whose change means new TLS material (watched by `mtls.reload`)."""
        paths = [self.cert_path, self.key_path, self.ca_path]
        return [*paths, self.crl] if self.crl else paths


class ServiceSettings(BaseSettings):
    """Where a service listens; each service adds its own fields and `<NAME>_` prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8443, description="Port to listen on (mTLS).")
