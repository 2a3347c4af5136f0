"""`python -m tools.stack`: the Swarm stack file, made from docker-compose.yml, not copied.

`docker stack deploy` reads the legacy Compose v3 schema: it refuses the
conditions of `depends_on`, ignores `build`, and cannot publish on 127.0.0.1.
This keeps from docker-compose.yml what Swarm runs as it is (image, command,
environment, health check, user, named volumes) for orders, payments and
PostgreSQL, adds deploy/swarm/overlay.yml (replicas, endpoint mode, rolling
updates), and turns the certificate folders into Swarm objects:

- each private key a *secret*, readable only by the service's user (mode 0400);
- each certificate chain, the CA and the CRLs a *config*.

Secrets and configs cannot change, so each is named after its content's hash:
after `make renew`, the next deploy creates new ones and updates the services
task by task (start-first). The mounts land where compose mounts the folders,
so the services' MTLS_* settings are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
OVERLAY = REPO / "deploy" / "swarm" / "overlay.yml"
SERVICES = ("postgres", "orders", "payments")
UNSUPPORTED = ("depends_on", "build", "ports", "profiles", "container_name")
OWN, TRUST = "/run/mtls/own", "/run/mtls/trust"
TRUST_FILES = ("ca.crt", "crl.pem", "chain-crl.pem")


def merged(base: Any, extra: Any) -> Any:
    """`extra` over `base`, mappings merged key by key."""
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in extra.items()}}
    return extra


def object_name(kind: str, path: Path) -> str:
    """A secret's or config's name: what it is, and a digest of what it holds."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{kind}-{digest}"


def stack(certs: Path, uid: str) -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text())
    overlay = yaml.safe_load(OVERLAY.read_text())
    services, secrets, configs = {}, {}, {}
    for name in SERVICES:
        service = {k: v for k, v in compose["services"][name].items() if k not in UNSUPPORTED}
        kept = [v for v in service.get("volumes", []) if OWN not in v and TRUST not in v]
        # A bind mount's ./ is the repository's, wherever the stack file is written.
        kept = [str(REPO / v[2:]) if v.startswith("./") else v for v in kept]
        if kept:
            service["volumes"] = kept
        else:
            service.pop("volumes", None)
        key = certs / name / "key.pem"
        secret = object_name(f"{name}-key", key)
        secrets[secret] = {"file": str(key)}
        service["secrets"] = [
            {"source": secret, "target": f"{OWN}/key.pem", "uid": uid, "gid": uid, "mode": 0o400}
        ]
        mounts = [(certs / name / "chain.pem", f"{name}-chain", f"{OWN}/chain.pem")]
        mounts += [(certs / "trust" / f, f.replace(".", "-"), f"{TRUST}/{f}") for f in TRUST_FILES]
        service["configs"] = []
        for path, kind, target in mounts:
            config = object_name(kind, path)
            configs[config] = {"file": str(path)}
            service["configs"].append({"source": config, "target": target, "mode": 0o444})
        services[name] = merged(service, overlay["services"][name])
    return {
        "version": "3.9",
        "services": services,
        "secrets": secrets,
        "configs": configs,
        "networks": {"default": {"driver": "overlay", "attachable": True}},
        "volumes": {"postgres-data": {}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stack", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--certs",
        type=Path,
        default=Path(os.environ.get("MTLS_CERTS_DIR", REPO / "certs" / "generated")),
    )
    parser.add_argument("--uid", default=os.environ.get("MTLS_UID", "10001"))
    args = parser.parse_args()
    yaml.safe_dump(stack(args.certs.resolve(), args.uid), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
