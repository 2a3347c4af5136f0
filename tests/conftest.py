"""Shared fixtures: dev PKIs minted at test time and echo servers on real TLS sockets."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from devpki import DevPKI, Leaf
from devpki.authority import load as load_authority
from devpki.builders.leaf import CLIENT_ONLY, LeafSpec
from devpki.leaf_files import make_leaf, write_leaf
from service_pair import DATABASES, DatabaseKind, ServicePair

from harness.ports import free_port
from harness.postgres import close_clusters
from harness.processes import TESTS, ServerProcess, tls_env

if str(TESTS / "apps") not in sys.path:
    sys.path.insert(0, str(TESTS / "apps"))  # in-process tests import echo_app too


# The suites that run on both databases; every other test keeps SQLite. MTLS_TEST_DATABASES
# (e.g. "sqlite") narrows them, for a fast run on a machine without PostgreSQL.
BOTH_DATABASES = ("services/", "security/test_security_matrix.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" not in metafunc.fixturenames:
        return
    where = metafunc.definition.path.relative_to(TESTS).as_posix()
    if where.startswith(BOTH_DATABASES):
        chosen = os.environ.get("MTLS_TEST_DATABASES", ",".join(DATABASES)).split(",")
        kinds = [kind for kind in DATABASES if kind in chosen]
        metafunc.parametrize("database", kinds, scope="module")


@pytest.fixture(scope="module")
def database() -> DatabaseKind:
    """Where the services keep their data: SQLite, unless the suite runs on both."""
    return "sqlite"


@pytest.fixture(scope="session", autouse=True)
def _postgres_clusters() -> Iterator[None]:
    """The PostgreSQL clusters that pairs started (one per PKI) stop with the session."""
    yield
    close_clusters()


@pytest.fixture(scope="session")
def default_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    """orders, payments, renewer, storefront, ops from one CA; tests may add leaves, never
    change these."""
    pki = DevPKI(tmp_path_factory.mktemp("default-pki"))
    pki.make_default()
    return pki


@pytest.fixture
def new_pki(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., DevPKI]:
    """A factory of fresh PKIs (another CA): new_pki(trust_domain=..., default=True)."""

    def make(trust_domain: str = "demo.internal", *, default: bool = True) -> DevPKI:
        pki = DevPKI(tmp_path_factory.mktemp("pki"), trust_domain)
        if default:
            pki.make_default()
        else:
            pki.init()
        return pki

    return make


@pytest.fixture(scope="module")
def pair(
    default_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory, database: DatabaseKind
) -> Iterator[ServicePair]:
    """orders and payments on the default PKI, one pair per test module (a module that needs
    other settings defines its own `pair`)."""
    data = tmp_path_factory.mktemp("services")
    with ServicePair.start(default_pki.directory, data, database=database) as services:
        yield services


@pytest.fixture
def own_pki_services(
    new_pki: Callable[..., DevPKI], tmp_path: Path, database: DatabaseKind
) -> Iterator[tuple[DevPKI, ServicePair]]:
    """orders and payments running on a fresh PKI of their own, which the test may revoke
    in or renew from (the session's default PKI is never changed)."""
    pki = new_pki()
    with ServicePair.start(pki.directory, tmp_path, database=database) as pair:
        yield pki, pair


def issue_with_uris(pki: DevPKI, name: str, uris: tuple[str, ...]) -> Leaf:
    """A client leaf carrying exactly these URI SANs (devpki.issue takes one SPIFFE ID)."""
    spec = LeafSpec(
        common_name=name, organization=f"{pki.trust_domain} dev PKI", uris=uris, eku=CLIENT_ONLY
    )
    leaf = make_leaf(
        pki.layout, name, spec, load_authority(pki.layout), "p256", "sha256", keep_key=False
    )
    return write_leaf(pki.layout, leaf)


class EchoServers:
    """Starts `python -m echo_app` processes and stops every one it started."""

    def __init__(self) -> None:
        self.started: list[ServerProcess] = []

    def start(
        self,
        pki: DevPKI,
        name: str = "orders",
        *,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> ServerProcess:
        port = free_port()
        full_env = {**tls_env(pki.directory, name), "ECHO_PORT": str(port), **(env or {})}
        server = ServerProcess("echo_app", full_env, port)
        self.started.append(server)
        return server.wait_listening() if wait else server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture(scope="module")
def module_echo_servers() -> Iterator[EchoServers]:
    """Echo servers shared by the tests of one module (a start costs ~1.5 s)."""
    servers = EchoServers()
    yield servers
    servers.stop_all()


@pytest.fixture
def echo_servers() -> Iterator[EchoServers]:
    """Echo servers for one test, stopped after it."""
    servers = EchoServers()
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def echo(default_pki: DevPKI, module_echo_servers: EchoServers) -> ServerProcess:
    """The echo app as orders (default settings), one per test module."""
    return module_echo_servers.start(default_pki, "orders")


@pytest.fixture
def pki_dir(default_pki: DevPKI) -> Path:
    return default_pki.directory
