"""Certificate operations for the rotation, expiry, revocation and audit tests.

Rotation is exercised the three ways files really change under a running
service: an atomic rename (write a temporary file, `os.replace`), a
Kubernetes-style symlink swap (`..data` points at a timestamped folder and the
visible files are symlinks through it), and an in-place write (`open("w")`,
which a reader can catch half-written). `Prober` keeps opening fresh
connections while files change, so a single bad handshake is seen.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from devpki import DevPKI, Leaf
from service_pair import ORDER, ServicePair

from harness.clients import https
from harness.polling import eventually
from harness.probe import http_request, probe, tls_get
from harness.processes import REPO, ServerProcess, process_env

STYLES = ("atomic_rename", "symlink_swap", "in_place_write")
CHAIN, KEY = "chain.pem", "key.pem"
DATA_LINK = "..data"


def leaf_files(leaf: Leaf) -> dict[str, bytes]:
    """What a service reads for its own identity: the chain (leaf first) and the key."""
    return {KEY: leaf.key_pem(), CHAIN: leaf.chain_pem()}


def reissue(pki: DevPKI, name: str, **options: Any) -> Leaf:
    """A new certificate for `name` with the default SANs, not written to the PKI folder."""
    if name in ("storefront", "ops"):
        return pki.issue(name, client_only=True, write=False, **options)
    return pki.issue(name, dns=(name, "localhost"), ips=("127.0.0.1",), write=False, **options)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_in_place(path: Path, data: bytes, pause: float) -> None:
    """open("w") and write in pieces with pauses: readers see it empty, then half-written.

    The pieces end at each PEM block boundary and in the middle of each block.
    """
    cuts = sorted({*_block_ends(data), *(end - 40 for end in _block_ends(data))})
    with path.open("wb") as file:
        start = 0
        for cut in [*cuts, len(data)]:
            file.write(data[start:cut])
            file.flush()
            start = cut
            time.sleep(pause)


def _block_ends(data: bytes) -> list[int]:
    marker = b"-----\n"
    ends, at = [], 0
    while (at := data.find(b"-----END", at)) >= 0:
        at = data.index(marker, at) + len(marker)
        ends.append(at)
    return [end for end in ends if end < len(data)] or [len(data) // 2]


@dataclass
class MaterialDir:
    """A folder holding chain.pem and key.pem, laid out and rotated in one style."""

    root: Path
    style: str
    pause: float = 0.5  # in-place pieces: longer than the reload interval
    _version: int = 0

    @property
    def chain(self) -> Path:
        return self.root / CHAIN

    @property
    def key(self) -> Path:
        return self.root / KEY

    def install(self, files: Mapping[str, bytes]) -> MaterialDir:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.style == "symlink_swap":
            target = self._new_version(files)
            (self.root / DATA_LINK).symlink_to(target.name)
            for name in files:
                (self.root / name).symlink_to(f"{DATA_LINK}/{name}")
        else:
            for name, data in files.items():
                write_atomically(self.root / name, data)
        return self

    def rotate(self, files: Mapping[str, bytes]) -> None:
        """Replace the files the way this style does; key first, as devpki writes them."""
        if self.style == "symlink_swap":
            target = self._new_version(files)
            link = self.root / f"{DATA_LINK}_tmp"
            link.symlink_to(target.name)
            os.replace(link, self.root / DATA_LINK)
        elif self.style == "atomic_rename":
            for name in sorted(files, key=lambda n: n != KEY):
                write_atomically(self.root / name, files[name])
        else:
            for name in sorted(files, key=lambda n: n != KEY):
                write_in_place(self.root / name, files[name], self.pause)

    def _new_version(self, files: Mapping[str, bytes]) -> Path:
        self._version += 1
        folder = self.root / f"..2026_01_01_00_00_{self._version:02d}.{os.getpid()}"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder

    def env(self) -> dict[str, str]:
        return {"MTLS_CERT": str(self.chain), "MTLS_KEY": str(self.key)}


def peer_serial(context: ssl.SSLContext, port: int) -> int:
    """The serial of the certificate the server presents on a fresh connection.

    A whole request is made: a client that hung up right after its side of the
    TLS 1.3 handshake would leave the server a half-done one to log as refused.
    """
    der = tls_get(context, port, "/health").server_cert_der
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


wait_until = eventually  # poll until truthy, failing with what was awaited


def refused_request(context: ssl.SSLContext, port: int) -> tuple[str, BaseException]:
    """One GET /health on a fresh connection that the server must refuse.

    Returns the client's own address (as the server's audit line names it) and
    the error the client met: under TLS 1.3 a refused client certificate
    surfaces on the first read, not in the client's handshake.
    """
    view = probe(port, context, http_request("GET", "/health"))
    if view.status is not None:
        raise AssertionError(f"the server answered instead of refusing: {view.outcome}")
    return view.peer, view.error or EOFError("the server closed the connection")


def devpki_cli(pki: DevPKI, *args: str) -> str:
    """`python -m devpki ARGS` on pki's folder, as `make renew` / `make revoke` run it."""
    done = subprocess.run(
        [sys.executable, "-m", "devpki", "--dir", str(pki.directory), *args],
        env=process_env({}),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def place_order(pair: ServicePair, pki_dir: Path | None = None) -> dict[str, Any]:
    """POST /orders as the storefront (storefront -> orders -> payments); 201 or fail."""
    with https(pki_dir or pair.pki_dir, "storefront") as client:
        answer = client.post(f"{pair.orders_url}/orders", json=ORDER)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def serial_served(context: ssl.SSLContext, port: int, serial: int) -> bool:
    return peer_serial(context, port) == serial


def running(pair: ServicePair) -> tuple[ServerProcess, ServerProcess]:
    """The pair's orders and payments processes, once started."""
    assert pair.orders is not None, "orders was not started"
    assert pair.payments is not None, "payments was not started"
    return pair.orders, pair.payments


def refusals(server: ServerProcess) -> list[dict[str, Any]]:
    """The server's "tls handshake refused" lines, without the test harness's port probes.

    `ServerProcess.wait_listening` connects and hangs up without sending a byte;
    a server that had already begun its handshake logs that as connection_closed
    (seen on Python 3.13). A test's own clients are counted on their side.
    """
    found = server.events("tls handshake refused")
    return [line for line in found if line["reason"] != "connection_closed"]


def access_serials(server: ServerProcess, principal: str) -> set[str]:
    """Serials (hex) the server's access log shows for a caller."""
    return {
        line["serial"] for line in server.events("request") if line.get("principal") == principal
    }


@dataclass
class Prober:
    """A thread that makes one full mTLS request on a fresh connection every `every` seconds."""

    make_client: Callable[[], httpx.Client]
    url: str
    every: float = 0.05
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.make_client() as client:
                    status = client.get(self.url).status_code
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(f"HTTP {status}")


@dataclass(frozen=True)
class Caller:
    """One kind of load: who calls, what, and the status that counts as success."""

    context: Callable[[], ssl.SSLContext]
    method: str
    url: str
    expected: int
    body: Any = None


@dataclass
class Load:
    """Bounded mTLS load: worker threads call until stopped (or `limit` seconds pass).

    The first half of the workers keep their connection alive, the second half
    open a new connection (a new handshake) for every request, so rotation is met
    both ways; worker n plays `callers[n % len(callers)]`.
    """

    callers: list[Caller]
    workers: int = 8
    limit: float = 30.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        self._threads = [
            threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.limit)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)

    def _work(self, number: int) -> None:
        caller = self.callers[number % len(self.callers)]
        keep_alive = number < self.workers // 2
        limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)
        deadline = time.monotonic() + self.limit
        with httpx.Client(verify=caller.context(), timeout=10.0, limits=limits) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._call(client, caller)

    def _call(self, client: httpx.Client, caller: Caller) -> None:
        try:
            status = client.request(caller.method, caller.url, json=caller.body).status_code
        except httpx.HTTPError as exc:
            failure = f"{caller.method} {caller.url}: {type(exc).__name__}: {exc}"
        else:
            failure = "" if status == caller.expected else f"{caller.url}: HTTP {status}"
        with self._lock:
            if failure:
                self.failures.append(failure)
            else:
                self.ok += 1
