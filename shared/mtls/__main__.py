"""`python -m mtls ...`: small operator commands of the toolkit."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

import httpx

from mtls.contexts import client_context
from mtls.errors import explain
from mtls.material import MaterialError, Role, load_material
from mtls.settings import TLSSettings


def healthcheck(url: str, timeout: float) -> int:
    """GET url over mTLS with this process's own certificate (MTLS_*); 0 when healthy."""
    context = client_context(load_material(TLSSettings(), (Role.CLIENT,)))
    response = httpx.get(url, verify=context, timeout=timeout)
    if response.status_code >= 400:
        print(f"healthcheck: {url}: HTTP {response.status_code} {response.text}", file=sys.stderr)
        return 1
    return 0


def as_operator(tool: str, call: Callable[[], int], failed: int) -> int:
    """Run an operator command; a failure it cannot get past is one line and `failed`."""
    try:
        return call()
    except (MaterialError, ValueError) as exc:  # no usable certificate of our own
        print(f"{tool}: {exc}", file=sys.stderr)
    except httpx.HTTPError as exc:
        why = explain(exc)
        print(f"{tool}: {why.cause} ({why.reason}); {why.hint}", file=sys.stderr)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtls", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("healthcheck", help="exit 0 if URL answers 2xx over mTLS")
    check.add_argument("url")
    check.add_argument("--timeout", type=float, default=3.0)
    if argv_command(argv) != "healthcheck":  # the doctor's imports cost the health check
        from mtls import inventory
        from mtls.doctor.cli import add_arguments

        add_arguments(
            commands.add_parser("doctor", help="explain, step by step, why an mTLS call fails")
        )
        inventory.add_arguments(
            commands.add_parser("inventory", help="every certificate the services use, one table")
        )
    args = parser.parse_args(argv)
    if args.command == "healthcheck":
        probe = functools.partial(healthcheck, args.url, args.timeout)
        return as_operator(f"healthcheck: {args.url}", probe, 1)
    if args.command == "inventory":
        from mtls import inventory

        return as_operator("inventory", lambda: inventory.run(args), 2)
    if args.command == "doctor":
        from mtls.doctor.cli import run

        return run(args)
    return 2


def argv_command(argv: list[str] | None) -> str | None:
    words = sys.argv[1:] if argv is None else argv
    return words[0] if words else None


if __name__ == "__main__":
    sys.exit(main())
