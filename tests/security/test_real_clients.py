"""Clients no one here wrote: curl, `openssl s_client` and the JDK's HttpClient.

Each completes the storefront flow against the running services (POST /orders
is paid, GET brings it back) with nothing but the files devpki writes (PEM for
curl and openssl, PKCS#12 for Java), and each is refused without a client
certificate, which the server's audit line confirms. A missing tool is
installed by scripts/ci/tools.sh (`make security-tools`); the test is skipped,
naming the reason, only when that is impossible here.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from service_pair import ORDER, ServicePair

from harness.processes import REPO

TOOLS_SCRIPT = REPO / "scripts" / "ci" / "tools.sh"
JAVA_CLIENT = REPO / "tests" / "clients" / "Client.java"
# A JVM that starts faster: the client is short-lived, so C1 and the serial GC suffice.
JAVA_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
BODY = json.dumps(ORDER)


@functools.cache
def _install_tools() -> str:
    """Run scripts/ci/tools.sh once per session; its output (for a skip reason)."""
    result = subprocess.run(
        [str(TOOLS_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
    )
    return (result.stdout + result.stderr).strip()


def require(tool: str) -> str:
    """The tool's path, installing it if needed; skip (with why) when impossible here."""
    path = shutil.which(tool)
    if path is None:
        output = _install_tools()
        path = shutil.which(tool)
        if path is None:
            pytest.skip(f"{tool} is not installed and scripts/ci/tools.sh could not: {output}")
    return path


def refusals(pair: ServicePair) -> int:
    assert pair.orders is not None
    return sum(
        1
        for line in pair.orders.events("tls handshake refused")
        if line["reason"] == "certificate_required"
    )


def wait_for_refusal(pair: ServicePair, before: int) -> None:
    """The server's audit line says why: no certificate (the client may only see a close)."""
    deadline = time.monotonic() + 10
    while refusals(pair) <= before:
        assert time.monotonic() < deadline, "orders logged no certificate_required refusal"
        time.sleep(0.05)


def refused_without_certificate(pair: ServicePair, run: Callable[[], Any]) -> Any:
    before = refusals(pair)
    result = run()
    wait_for_refusal(pair, before)
    return result


def assert_flow(created: dict[str, Any], read: dict[str, Any]) -> None:
    assert created["status"] == "paid", created
    assert read["id"] == created["id"]
    assert read["status"] in ("paid", "settled"), read  # settlement follows within ~0.2 s


# ------------------------------------------------------------------------------- curl


def curl(pair: ServicePair, path: str, *, body: str | None = None, cert: bool = True) -> Any:
    pki = pair.pki_dir
    args = [require("curl"), "--silent", "--show-error", "--max-time", "15"]
    args += [
        "--resolve",
        f"localhost:{pair.orders_port}:127.0.0.1",
        "--cacert",
        str(pki / "ca.crt"),
    ]
    if cert:
        args += ["--cert", str(pki / "storefront" / "chain.pem")]
        args += ["--key", str(pki / "storefront" / "key.pem")]
    if body is not None:
        args += ["--header", "Content-Type: application/json", "--data", body]
    args += ["--write-out", "\n%{http_code}", pair.orders_url + path]
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


def curl_json(pair: ServicePair, path: str, status: int, body: str | None = None) -> Any:
    result = curl(pair, path, body=body)
    text, _, code = result.stdout.rpartition("\n")
    assert (result.returncode, code) == (0, str(status)), result
    return json.loads(text)


def test_curl_completes_the_storefront_flow(pair: ServicePair) -> None:
    created = curl_json(pair, "/orders", 201, BODY)
    assert_flow(created, curl_json(pair, f"/orders/{created['id']}", 200))


def test_curl_without_a_certificate_is_refused(pair: ServicePair) -> None:
    result = refused_without_certificate(pair, lambda: curl(pair, "/orders", body=BODY, cert=False))

    assert result.returncode != 0, result
    assert result.stdout.strip() == "000", "curl got an HTTP answer without a certificate"


# ----------------------------------------------------------------------- openssl s_client


def s_client(pair: ServicePair, request: str, *, cert: bool = True) -> Any:
    """Send a raw HTTP/1.1 request through `openssl s_client`, verifying the server."""
    pki = pair.pki_dir
    args = [require("openssl"), "s_client", "-connect", f"127.0.0.1:{pair.orders_port}"]
    args += ["-servername", "localhost", "-verify_hostname", "localhost", "-verify_return_error"]
    args += ["-CAfile", str(pki / "ca.crt"), "-quiet"]
    if cert:  # -cert takes the leaf only; the intermediate goes in -cert_chain
        leaf = pki / "storefront"
        args += ["-cert", str(leaf / "cert.pem"), "-key", str(leaf / "key.pem")]
        args += ["-cert_chain", str(leaf / "chain.pem")]
    return subprocess.run(
        args, input=request.encode(), capture_output=True, timeout=30, check=False
    )


def http(method: str, path: str, body: str = "") -> str:
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return f"{head}\r\n{body}"


def s_client_json(pair: ServicePair, request: str, status: int) -> Any:
    result = s_client(pair, request)
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), result
    return json.loads(body)


def test_openssl_s_client_completes_the_storefront_flow(pair: ServicePair) -> None:
    created = s_client_json(pair, http("POST", "/orders", BODY), 201)
    assert_flow(created, s_client_json(pair, http("GET", f"/orders/{created['id']}"), 200))


def test_openssl_s_client_without_a_certificate_is_refused(pair: ServicePair) -> None:
    request = http("POST", "/orders", BODY)
    result = refused_without_certificate(pair, lambda: s_client(pair, request, cert=False))

    assert b"HTTP/1.1" not in result.stdout, result.stdout
    assert result.returncode != 0, result


# ------------------------------------------------------------------------------- Java


@pytest.fixture(scope="module")
def java_run(pair: ServicePair) -> dict[str, str]:
    """One JVM run of tests/clients/Client.java: {step: "<status> <body>" or "ERROR ..."}."""
    java = require("java")
    keystore = pair.pki_dir / "storefront" / "keystore.p12"
    truststore = pair.pki_dir / "truststore.p12"
    before = refusals(pair)
    result = subprocess.run(
        [java, *JAVA_FLAGS, str(JAVA_CLIENT), pair.orders_url, str(keystore), str(truststore)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if result.returncode != 0 and "jdk.compiler" in result.stderr:
        pytest.skip(f"java cannot run source files (a JRE, not a JDK): {result.stderr[:200]}")
    assert result.returncode == 0, result
    steps = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    steps["refusals before"] = str(before)
    return steps


def _java_json(step: str, status: int) -> Any:
    code, _, body = step.partition(" ")
    assert code == str(status), step
    return json.loads(body)


@pytest.mark.java
def test_java_httpclient_completes_the_storefront_flow(java_run: dict[str, str]) -> None:
    created = _java_json(java_run["create"], 201)
    assert_flow(created, _java_json(java_run["read"], 200))


@pytest.mark.java
def test_java_httpclient_without_a_certificate_is_refused(
    java_run: dict[str, str], pair: ServicePair
) -> None:
    assert java_run["nocert"].startswith("ERROR "), java_run["nocert"]
    wait_for_refusal(pair, int(java_run["refusals before"]))


# ------------------------------------------------------- the seed's commands, verbatim


def test_seed_curl_command_with_the_leaf_file_only_is_served(pair: ServicePair) -> None:
    """`curl --cert <name>/cert.pem --key <name>/key.pem --cacert ca.crt URL`: leaf only."""
    pki = pair.pki_dir
    args = [require("curl"), "--silent", "--show-error", "--max-time", "15"]
    args += ["--resolve", f"localhost:{pair.orders_port}:127.0.0.1"]
    args += ["--cert", str(pki / "storefront" / "cert.pem")]
    args += ["--key", str(pki / "storefront" / "key.pem"), "--cacert", str(pki / "ca.crt")]
    args += ["--write-out", "\n%{http_code}", pair.orders_url + "/orders"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert result.stdout.rpartition("\n")[2] == "200", result


def test_seed_s_client_command_with_the_leaf_file_only_is_served(pair: ServicePair) -> None:
    """`openssl s_client -connect HOST:PORT -cert <name>/cert.pem -key <name>/key.pem -CAfile
    ca.crt`: s_client sends only the first certificate of -cert, so the server completes the
    chain from its own trust material (the intermediates, still anchored at the root)."""
    pki = pair.pki_dir
    args = [require("openssl"), "s_client", "-connect", f"localhost:{pair.orders_port}"]
    args += ["-cert", str(pki / "storefront" / "cert.pem")]
    args += ["-key", str(pki / "storefront" / "key.pem"), "-CAfile", str(pki / "ca.crt")]
    result = subprocess.run(
        [*args, "-quiet"], input=http("GET", "/orders").encode(), capture_output=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert result.stdout.startswith(b"HTTP/1.1 200 "), result
