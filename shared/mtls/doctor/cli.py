"""`python -m mtls doctor URL [--cert chain.pem --key key.pem]`: its arguments and exit code.

What is not given on the command line comes from `TLSSettings`, so the doctor
reads MTLS_CA, MTLS_PKI_DIR, MTLS_CRL, MTLS_TRUST_DOMAIN, MTLS_KEY_PASSWORD and
MTLS_EXPIRY_WARNING_DAYS exactly as the services do (a password is never an
argument: it would show in `ps`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from mtls.doctor.diagnose import DoctorError, Options, diagnose
from mtls.doctor.report import print_report
from mtls.settings import TLSSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="https://host:port[/path]")
    parser.add_argument("--cert", type=Path, help="client certificate chain (chain.pem; MTLS_CERT)")
    parser.add_argument("--key", type=Path, help="its private key (key.pem; MTLS_KEY)")
    parser.add_argument("--ca", type=Path, help="trusted CAs (default: MTLS_CA, else ca.crt)")
    parser.add_argument("--crl", type=Path, help="CRL to check our serial (default: next to --ca)")
    parser.add_argument("--path", help="path to GET (default: the URL's, else /health)")
    parser.add_argument("--server-name", help="name to verify and send as SNI (default: host)")
    parser.add_argument(
        "--tls-max", choices=["1.2", "1.3"], default="1.3", help="highest TLS version to offer"
    )
    parser.add_argument(
        "--trust-domain", help="SPIFFE trust domain the server expects (MTLS_TRUST_DOMAIN)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per network step")


def options_from(args: argparse.Namespace, settings: TLSSettings) -> Options:
    """The command line first, then the settings, as the services would read them."""
    ca = args.ca or settings.ca_path
    password = settings.key_password.get_secret_value() if settings.key_password else None
    # A pair comes from one place: --cert with --key, or MTLS_CERT with MTLS_KEY.
    cert, key = (args.cert, args.key) if args.cert else (settings.cert, settings.key)
    return Options(
        url=args.url,
        cert=cert,
        key=key,
        ca=ca,
        crl=args.crl or settings.crl or ca.parent / "crl.pem",
        path=args.path,
        server_name=args.server_name,
        max_tls=args.tls_max,
        trust_domain=args.trust_domain or settings.trust_domain,
        key_password=password,
        warning_days=settings.expiry_warning_days,
        timeout=args.timeout,
    )


def run(args: argparse.Namespace) -> int:
    """Print the doctor's report; 0 when the call works end to end, 1 when not, 2 unusable."""
    try:
        report = diagnose(options_from(args, TLSSettings()))
    except ValidationError as exc:
        print(f"doctor: an MTLS_* setting is invalid: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except DoctorError as exc:
        print(f"doctor: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    return 0 if report.verdict.ok else 1
