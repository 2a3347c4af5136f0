"""`python -m tools.swarm up|down|e2e`: the services on Docker Swarm, three replicas each.

`make swarm-up`, `make swarm-down` and `make swarm-e2e` call this through
scripts/docker/swarm.sh, which finds (or starts) the engine and builds the
images. The stack file is made by `tools.stack` from docker-compose.yml; keys
arrive as secrets, chains, CA and CRLs as configs. Swarm publishes no port on
127.0.0.1, so every check runs in a client container on the stack's overlay
network: the storefront's demo and its load client (`python -m storefront.load`),
which also reads each replica's /metrics as ops to see who served what.

The e2e deploys its own stack (`mtls-e2e`) on a throwaway PKI and then:
1. plays the demo through the replicas;
2. sends 3,000 orders: each replica of orders and of payments serves >= 20%;
3. scales both to 4 under load: the new replicas get traffic within 30 s;
4. renews both certificates under load and rolls them out (new secrets and
   configs, `docker stack deploy`, start-first): 0 failed requests, and every
   replica presents its new certificate;
5. SIGKILLs one replica of each mid-run: every order answered 201 or 503, and
   once settled every order has exactly one payment, every payment one order.
It removes its stack and volume, and leaves the swarm if it created it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from devpki import DevPKI

from harness.polling import eventually
from tools.stack import REPO, stack

UID = os.environ.get("MTLS_UID", "10001")
IMAGE = os.environ.get("MTLS_IMAGE", "mtls-services:dev")
REPLICAS = int(os.environ.get("MTLS_SWARM_REPLICAS", "3"))
SCALED = REPLICAS + 1
MIN_SHARE = 0.20
SPREAD_ORDERS, LOAD_ORDERS, CONCURRENCY = 3_000, 2_000, 32
NEW_REPLICA_WITHIN = 30.0
STACK = "mtls-swarm"  # not compose's project name (mtls): their volumes would be one
STATE = REPO / ".cache" / "swarm"  # what `up` created, for `down` to undo


def say(message: str) -> None:
    print(f"swarm: {message}", flush=True)


def docker(*args: str, check: bool = True, timeout: float = 300) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip() or done.stdout}")
    return done.stdout


# ------------------------------------------------------------ the swarm itself
def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def join_swarm() -> bool:
    """Make this engine a one-node swarm if it is not one; True if this call did it."""
    if swarm_state() == "active":
        return False
    docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    say("swarm initialised on 127.0.0.1 (this engine was not in one)")
    return True


def leave_swarm() -> None:
    docker("swarm", "leave", "--force")
    say("left the swarm (it was created here)")


# ------------------------------------------------------------ a stack
@dataclass
class Stack:
    name: str
    certs: Path
    file: Path = field(init=False)

    def __post_init__(self) -> None:
        STATE.mkdir(parents=True, exist_ok=True)
        self.file = STATE / f"{self.name}.stack.yml"  # what was deployed last, to read

    @property
    def network(self) -> str:
        return f"{self.name}_default"

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def deploy(self) -> None:
        """Write the stack file for the PKI as it is now and deploy it (again)."""
        self.file.write_text(yaml.safe_dump(stack(self.certs, UID), sort_keys=False))
        docker("stack", "deploy", "--prune", "-c", str(self.file), self.name)

    def tasks_ready(self, replicas: dict[str, int]) -> bool:
        """Every service has its replicas running and healthy, and nothing else runs."""
        for short, wanted in replicas.items():
            states = docker(
                "ps",
                "--filter",
                f"label=com.docker.swarm.service.name={self.service(short)}",
                "--format",
                "{{.Status}}",
            ).split("\n")
            running = [state for state in states if state.strip()]
            if len(running) != wanted or not all("(healthy)" in s for s in running):
                return False
        return True

    def wait_ready(self, replicas: dict[str, int], timeout: float = 240) -> None:
        eventually(lambda: self.tasks_ready(replicas), f"{self.name} ready", timeout, every=2.0)

    def update_state(self, short: str) -> str:
        return docker(
            "service",
            "inspect",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
            self.service(short),
        ).strip()

    def containers(self, short: str) -> list[str]:
        return docker(
            "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={self.service(short)}"
        ).split()

    def remove(self, *, volume: bool) -> None:
        """Remove the stack; its database volume too if `volume` (kept like `make down`)."""
        docker("stack", "rm", self.name, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"
        gone = lambda: not docker("ps", "-aq", "--filter", label).strip()  # noqa: E731
        eventually(gone, "stack removed", 120, every=1.0)
        network_gone = lambda: self.network not in docker("network", "ls")  # noqa: E731
        eventually(network_gone, "network removed", 60, every=1.0)
        if volume:
            docker("volume", "rm", self.volume, check=False)

    @property
    def volume(self) -> str:
        return f"{self.name}_postgres-data"

    def problems(self) -> list[str]:
        """The warning and error lines of every task, gone ones too (for a failed check)."""
        label = f"label=com.docker.stack.namespace={self.name}"
        lines = []
        for container in docker("ps", "-aq", "--filter", label).split():
            done = subprocess.run(["docker", "logs", container], capture_output=True,
                                  text=True, timeout=60, check=False)  # fmt: skip
            name = docker("inspect", "--format", "{{.Name}}", container).strip()
            lines += [f"{name} {line}" for line in (done.stdout + done.stderr).splitlines()
                      if '"level": "warning"' in line or '"level": "error"' in line
                      or "cannot start" in line]  # fmt: skip
        return lines

    def psql(self, database: str, sql: str) -> list[list[str]]:
        (container,) = self.containers("postgres")
        out = docker(
            "exec",
            "-u",
            "postgres",
            container,
            "psql",
            "-h",
            "/var/run/postgresql",
            "-d",
            database,
            "-At",
            "-F",
            "\t",
            "-c",
            sql,
        )
        return [line.split("\t") for line in out.splitlines() if line]

    # -------------------------------------------------------- its client container
    def client_argv(self, *argv: str, detach: bool = False) -> list[str]:
        mounts = [("storefront", "own"), ("trust", "trust"), ("ops", "ops")]
        volumes = [f"-v={self.certs / folder}:/run/mtls/{at}:ro" for folder, at in mounts]
        mode = ["-d" if detach else "--rm", "--no-healthcheck"]
        return [
            "run",
            *mode,
            f"--network={self.network}",
            f"--user={UID}:{UID}",
            *volumes,
            "-e",
            f"MTLS_TRUST_DOMAIN={DEFAULT_DOMAIN}",
            IMAGE,
            *argv,
        ]

    def serials(self, *services: str) -> dict[str, dict[str, str]]:
        """The certificate serial each replica of each service presents, by address."""
        out = docker(*self.client_argv("python", "-m", "storefront.replicas", *services))
        return dict(json.loads(out.strip().splitlines()[-1])["serials"])

    def demo(self) -> str:
        return docker(*self.client_argv("python", "-m", "storefront", *URLS), timeout=120)

    @contextmanager
    def load(self, orders: int, *count: str) -> Iterator[Load]:
        argv = [
            "python",
            "-m",
            "storefront.load",
            URLS[0],
            f"--orders={orders}",
            f"--concurrency={CONCURRENCY}",
            *(f"--count={c}" for c in count),
        ]
        container = docker(*self.client_argv(*argv, detach=True)).strip()
        try:
            yield Load(container)
        finally:
            docker("rm", "-f", container, check=False)


DEFAULT_DOMAIN = "demo.internal"
URLS = ("https://orders:8443", "https://payments:8443")
COUNTED = ("orders:storefront", "payments:orders")
FINAL = {"settled", "payment_declined"}  # the demo's big order is declined, by design


@dataclass
class Load:
    """`python -m storefront.load` running in its container."""

    container: str

    def lines(self) -> list[dict[str, Any]]:
        out = docker("logs", self.container, check=False)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def progress(self) -> int:
        return max((line["progress"] for line in self.lines() if "progress" in line), default=0)

    def wait_progress(self, count: int, timeout: float = 180) -> None:
        eventually(lambda: self.progress() >= count, f"{count} orders answered", timeout, every=0.5)

    def stop(self) -> None:
        docker("kill", "--signal", "TERM", self.container, check=False)

    def summary(self, timeout: float = 300) -> dict[str, Any]:
        docker("wait", self.container, timeout=timeout)
        found = [line["summary"] for line in self.lines() if "summary" in line]
        if not found:
            raise RuntimeError(
                f"the load client ended without a summary:\n"
                f"{docker('logs', self.container, check=False)[-3000:]}"
            )
        return dict(found[0])


# ------------------------------------------------------------ the checks
@dataclass
class Checks:
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str) -> None:
        print(f"swarm-e2e: {'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)


def shares(served: dict[str, float]) -> dict[str, float]:
    total = sum(served.values()) or 1.0
    return {address: round(count / total, 3) for address, count in sorted(served.items())}


def all_succeeded(summary: dict[str, Any]) -> bool:
    """No error, every answer 2xx: 201, or 200 for an order sent again with its key."""
    return summary["errors"] == 0 and set(summary["statuses"]) <= {"200", "201"}


def check_spread(stack_: Stack, checks: Checks) -> None:
    with stack_.load(SPREAD_ORDERS, *COUNTED) as load:
        summary = load.summary()
    checks.figures["spread"] = summary
    checks.check("3,000 orders, all created", all_succeeded(summary), _brief(summary))
    for service in ("orders", "payments"):
        split = shares(summary[f"{service}_served"])
        fair = len(split) == REPLICAS and min(split.values()) >= MIN_SHARE
        checks.check(f"{service}: every replica >= {MIN_SHARE:.0%}", fair, json.dumps(split))


def check_scale_up(stack_: Stack, checks: Checks) -> None:
    with stack_.load(100_000, *COUNTED) as load:
        load.wait_progress(200)
        docker(
            "service",
            "scale",
            "-d",
            f"{stack_.service('orders')}={SCALED}",
            f"{stack_.service('payments')}={SCALED}",
        )
        stack_.wait_ready({"orders": SCALED, "payments": SCALED})

        def both_served() -> bool:
            lines = [line for line in load.lines() if "first_served" in line]
            return len({line["first_served"] for line in lines}) == 2

        with suppress(AssertionError):
            eventually(both_served, "the new replicas serve", NEW_REPLICA_WITHIN + 15, every=1.0)
        load.stop()
        summary = load.summary()
    checks.figures["scale_up"] = summary
    checks.check("scale-up under load, all created", all_succeeded(summary), _brief(summary))
    for service in ("orders", "payments"):
        after = summary[f"{service}_new_replicas"]
        ok = len(after) == 1 and all(s <= NEW_REPLICA_WITHIN for s in after.values())
        checks.check(
            f"{service}: the new replica serves within {NEW_REPLICA_WITHIN:.0f} s",
            ok,
            f"seconds from in DNS to first request: {after}",
        )
    docker(
        "service",
        "scale",
        "-d",
        f"{stack_.service('orders')}={REPLICAS}",
        f"{stack_.service('payments')}={REPLICAS}",
    )
    stack_.wait_ready({"orders": REPLICAS, "payments": REPLICAS})


def check_rotation(stack_: Stack, checks: Checks) -> None:
    pki = DevPKI(stack_.certs)
    old = {name: pki.leaf(name).certificate.serial_number for name in ("orders", "payments")}
    with stack_.load(100_000) as load:
        load.wait_progress(200)
        started = time.monotonic()
        for name in old:
            pki.renew(name)
        stack_.deploy()  # new secrets and configs: a rolling, start-first update of both

        def rolled() -> str | bool:
            states = {stack_.update_state(short) for short in old}
            ended = len(states) == 1 and states <= {"completed", "rollback_completed"}
            return states.pop() if ended else False

        outcome = eventually(rolled, "the rolling update", 400, every=2.0)
        seconds = round(time.monotonic() - started, 1)
        load.wait_progress(load.progress() + 200)
        load.stop()
        summary = load.summary()
    summary["rollout_seconds"] = seconds
    checks.figures["rotation"] = summary
    checks.check("rolling rotation completed", outcome == "completed", f"{outcome} in {seconds} s")
    new = {name: f"{pki.leaf(name).certificate.serial_number:x}" for name in old}
    presented = stack_.serials(*old)
    renewed = all(
        len(by_replica) == REPLICAS and set(by_replica.values()) == {new[name]}
        for name, by_replica in presented.items()
    )
    checks.check("every replica presents its renewed certificate", renewed, json.dumps(presented))
    checks.check("rotation under load: 0 failed requests", all_succeeded(summary), _brief(summary))


def check_kill(stack_: Stack, checks: Checks) -> None:
    with stack_.load(LOAD_ORDERS) as load:
        load.wait_progress(LOAD_ORDERS * 3 // 10)
        killed = [stack_.containers(short)[0] for short in ("orders", "payments")]
        for container in killed:
            docker("kill", "--signal", "KILL", container)
        summary = load.summary()
    checks.figures["kill"] = summary
    answered = summary["errors"] == 0 and set(summary["statuses"]) <= {"200", "201", "503"}
    noticed = summary["retries"] > 0 or "503" in summary["statuses"]  # the kills hit calls
    answered = answered and noticed
    checks.check(
        "SIGKILL of a replica of each: every request answered 2xx or 503", answered, _brief(summary)
    )
    stack_.wait_ready({"orders": REPLICAS, "payments": REPLICAS})


def check_reconciled(stack_: Stack, checks: Checks) -> None:
    def settled() -> list[list[str]] | None:
        rows = stack_.psql("orders", "SELECT status, COUNT(*) FROM orders GROUP BY status")
        return rows if {row[0] for row in rows} <= FINAL else None

    with suppress(AssertionError):
        eventually(settled, "every order settled", 120, every=2.0)
    orders = {row[0]: row[1] for row in stack_.psql("orders", "SELECT id, payment_id FROM orders")}
    payments = stack_.psql("payments", "SELECT id, order_id FROM payments")
    statuses = stack_.psql("orders", "SELECT status, COUNT(*) FROM orders GROUP BY status")
    per_order: dict[str, int] = {}
    for _, order_id in payments:
        per_order[order_id] = per_order.get(order_id, 0) + 1
    duplicated = [order for order, n in per_order.items() if n > 1]
    orphans = [pid for pid, order in payments if orders.get(order) != pid]
    unpaid = [order for order in orders if per_order.get(order, 0) != 1]
    detail = (
        f"{len(orders)} orders {dict((s, int(n)) for s, n in statuses)}, "
        f"{len(payments)} payments; duplicated {len(duplicated)}, orphan {len(orphans)}, "
        f"without exactly one payment {len(unpaid)}"
    )
    checks.figures["reconciliation"] = detail
    ok = not duplicated and not orphans and not unpaid and {s for s, _ in statuses} <= FINAL
    checks.check("reconciled: every order settled (or declined) with one payment", ok, detail)


def _brief(summary: dict[str, Any]) -> str:
    keys = (
        "statuses",
        "errors",
        "retries",
        "seconds",
        "latency_s",
        "unavailable_named",
        "first_errors",
    )
    return json.dumps({key: summary[key] for key in keys if summary.get(key)})


# ------------------------------------------------------------ the commands
def make_pki(certs: Path) -> None:
    """The dev PKI (kept if it exists), owned by the uid the client containers run as: the
    tasks get their keys as secrets, but a client container mounts its folder."""
    DevPKI(certs).make_default()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{UID}:{UID}", str(certs)], check=True)


def e2e() -> int:
    created = join_swarm()
    work = Path(tempfile.mkdtemp(prefix="mtls-swarm-e2e-"))
    checks = Checks()
    stack_ = Stack("mtls-e2e", work / "pki")
    try:
        make_pki(stack_.certs)
        started = time.monotonic()
        stack_.deploy()
        stack_.wait_ready({"postgres": 1, "orders": REPLICAS, "payments": REPLICAS})
        checks.figures["ready_seconds"] = round(time.monotonic() - started, 1)
        say(
            f"{REPLICAS}+{REPLICAS} replicas and PostgreSQL ready in "
            f"{checks.figures['ready_seconds']} s"
        )
        demo = stack_.demo()
        checks.check("the demo through the replicas", "demo: done" in demo, demo.splitlines()[-1])
        for step in (check_spread, check_scale_up, check_rotation, check_kill, check_reconciled):
            try:
                step(stack_, checks)
            except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
                checks.check(step.__name__, False, str(exc)[-2000:])
    finally:
        figures = work.parent / "mtls-swarm-e2e.json"
        figures.write_text(json.dumps(checks.figures, indent=2))
        say(f"figures in {figures}")
        if checks.failed:
            problems = stack_.problems()
            (work.parent / "mtls-swarm-e2e-problems.log").write_text("\n".join(problems))
            say(f"{len(problems)} warning/error lines in {work.parent}/mtls-swarm-e2e-problems.log;"
                " the last ones:")  # fmt: skip
            print("\n".join(line[:600] for line in problems[-30:]), flush=True)
        stack_.remove(volume=True)
        if created:
            leave_swarm()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    print(f"swarm-e2e: {checks.passed} passed, {len(checks.failed)} failed", flush=True)
    return 1 if checks.failed else 0


def up(certs: Path) -> int:
    STATE.mkdir(parents=True, exist_ok=True)
    if join_swarm():
        (STATE / "created-swarm").touch()
    make_pki(certs)
    stack_ = Stack(STACK, certs.resolve())
    stack_.deploy()
    stack_.wait_ready({"postgres": 1, "orders": REPLICAS, "payments": REPLICAS})
    say(f"stack {STACK}: orders x{REPLICAS}, payments x{REPLICAS}, PostgreSQL; try the demo:")
    print("  docker " + " ".join(stack_.client_argv("python", "-m", "storefront", *URLS)))
    return 0


def down(certs: Path) -> int:
    stack_ = Stack(STACK, certs.resolve())
    stack_.remove(volume=False)
    say(f"stack {STACK} removed; its database stays in volume {stack_.volume}")
    marker = STATE / "created-swarm"
    if marker.exists() and swarm_state() == "active":
        leave_swarm()
    marker.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.swarm", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "e2e"))
    certs = Path(os.environ.get("MTLS_CERTS_DIR", REPO / "certs" / "generated"))
    args = parser.parse_args(argv)
    if args.command == "e2e":
        return e2e()
    return up(certs) if args.command == "up" else down(certs)


if __name__ == "__main__":
    sys.exit(main())
