"""Command line for the dev PKI: argparse over DevPKI, one line per file written.

Every error a person can fix ends as one line, `devpki: error: ...`, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from mtls.logs import configure_logging

from devpki import renewer
from devpki.errors import PKIError
from devpki.inspect import render
from devpki.keys import CLI_KEY_TYPES, KeyType
from devpki.leaf import Leaf
from devpki.names import DEFAULT_TRUST_DOMAIN
from devpki.pkcs12 import DEFAULT_PASSWORD, PASSWORD_ENV
from devpki.pki import DEFAULT_DIR, DEFAULT_LEAVES, DIR_ENV, TRUST_DOMAIN_ENV, DevPKI
from devpki.renewer import DAY_SECONDS

EXIT_ERROR = 2
LIFETIME_ENV = "MTLS_LEAF_LIFETIME"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the same one-line form as PKIError."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"devpki: error: {message} (see --help)\n")


def _datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date/time, e.g. 2030-01-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(text: str) -> timedelta:
    """'90s', '10m', '12h', '30d': short-lived mode's leaf lifetimes."""
    match = re.fullmatch(r"([1-9][0-9]*)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lifetime: a whole number and s, m, h or d, e.g. 10m or 90d"
        )
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--dir", default=argparse.SUPPRESS, help=f"PKI folder (${DIR_ENV})")
    common.add_argument(
        "--trust-domain",
        default=argparse.SUPPRESS,
        help=f"SPIFFE trust domain (${TRUST_DOMAIN_ENV})",
    )
    parser = _Parser(
        prog="devpki",
        description="Dev PKI for mTLS demos: root + intermediate CA and SPIFFE leaves.",
        epilog=f"PKCS#12 files use the password in ${PASSWORD_ENV} (demo default "
        f"'{DEFAULT_PASSWORD}'). Keys are written 0600; never commit the PKI folder.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    init = command("init", "create the root and intermediate CA (keeps an existing one)")
    init.add_argument("--force", action="store_true", help="replace an existing CA")
    issue = command("issue", "issue a leaf certificate signed by the intermediate")
    issue.add_argument("name")
    issue.add_argument("--dns", action="append", default=[], help="DNS SAN (repeatable)")
    issue.add_argument("--ip", action="append", default=[], help="IP SAN (repeatable)")
    issue.add_argument("--client-only", action="store_true", help="EKU clientAuth only")
    issue.add_argument("--key-type", choices=CLI_KEY_TYPES, default="p256")
    issue.add_argument("--days", type=int, default=365)
    issue.add_argument("--not-before", type=_datetime, help="ISO 8601 start of validity")
    issue.add_argument("--expired", action="store_true", help="validity ended yesterday")
    issue.add_argument("--force", action="store_true", help="replace an existing certificate")
    default = command("make-default", "CA + orders, payments, renewer, storefront, ops")
    default.add_argument("--force", action="store_true", help="remake everything")
    default.add_argument(
        "--lifetime",
        type=_duration,
        default=os.environ.get(LIFETIME_ENV) or None,
        help=f"leaf lifetime, e.g. 10m, 12h, 90d (${LIFETIME_ENV}; default 365d)",
    )
    renew = command("renew", "reissue a certificate with the same names")
    renew.add_argument("name")
    renew.add_argument("--keep-key", action="store_true", help="keep the private key")
    command("revoke", "revoke a certificate and rewrite the CRL").add_argument("name")
    command("crl", "rewrite the CRL (fresh next update, +7 days)")
    renew_loop = command("renewer", "keep renewing each leaf inside its renewal window (runs on)")
    renew_loop.add_argument(
        "--interval", type=float, default=DAY_SECONDS, help="seconds between checks"
    )
    renew_loop.add_argument(
        "--fraction", type=float, default=1 / 3, help="window: this part of life"
    )
    renew_loop.add_argument(
        "--before-days", type=float, default=30, help="and this many days at least"
    )
    renew_loop.add_argument(
        "--listen",
        metavar="[HOST:]PORT",
        help="also serve /health and /metrics over mTLS, with the renewer's own leaf",
    )
    inspect = command("inspect", "show a certificate (name, 'ca', 'intermediate' or a path)")
    inspect.add_argument("target", metavar="NAME|PATH")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _wrote(leaf: Leaf) -> None:
    print(f"{leaf.name}: {leaf.spiffe_id or '(no SPIFFE ID)'}, serial {leaf.serial:x}")
    for path in (leaf.cert_path, leaf.key_path, leaf.chain_path, leaf.keystore_path):
        if path is not None:
            print(f"  wrote {path}")


def _init(pki: DevPKI, force: bool) -> None:
    existed = pki.initialized
    pki.init(force=force)
    if existed and not force:
        print(f"kept the existing CA in {pki.directory} (use --force to replace it)")
        return
    written = (pki.ca_cert_path, pki.intermediate_cert_path, pki.crl_path, pki.chain_crl_path)
    for path in (*written, pki.truststore_path):
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> None:
    pki = DevPKI(
        getattr(args, "dir", None) or os.environ.get(DIR_ENV) or DEFAULT_DIR,
        getattr(args, "trust_domain", None)
        or os.environ.get(TRUST_DOMAIN_ENV)
        or DEFAULT_TRUST_DOMAIN,
    )
    if args.command == "init":
        _init(pki, args.force)
    elif args.command == "issue":
        if not args.force and pki.exists(args.name):
            print(f"kept the existing {pki.leaf(args.name).cert_path} (use --force to replace it)")
            return
        key_type: KeyType = args.key_type
        leaf = pki.issue(
            args.name,
            dns=args.dns,
            ips=args.ip,
            client_only=args.client_only,
            key_type=key_type,
            days=args.days,
            not_before=args.not_before,
            expired=args.expired,
        )
        _wrote(leaf)
    elif args.command == "make-default":
        _init(pki, args.force)
        before = {n: pki.leaf(n).serial for n in DEFAULT_LEAVES if pki.exists(n)}
        for leaf in pki.make_default(force=False, lifetime=args.lifetime):
            if before.get(leaf.name) == leaf.serial:
                print(f"{leaf.name}: kept {leaf.cert_path}")
            else:
                _wrote(leaf)
    elif args.command == "renew":
        _wrote(pki.renew(args.name, keep_key=args.keep_key))
    elif args.command == "revoke":
        serial = pki.leaf(args.name).serial
        print(f"revoked {args.name} (serial {serial:x}); wrote {pki.revoke(args.name)}")
    elif args.command == "crl":
        print(f"wrote {pki.crl()}")
    elif args.command == "renewer":
        renewer.main(pki, args.interval, args.fraction, args.before_days, args.listen)
    elif args.command == "inspect":
        path = pki.resolve(args.target)
        facts = pki.inspect(str(path))
        print(json.dumps(facts.to_dict(), indent=2) if args.json else render(facts, str(path)))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Each certificate issued, renewed or revoked is a JSON audit line (mtls.logs), on
    # stderr: stdout keeps the lines people read ("wrote ...").
    configure_logging(stream=sys.stderr)
    try:
        run(args)
    except (PKIError, OSError) as exc:
        print(f"devpki: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0
