"""Every message quoted in docs/troubleshooting.md is one that really occurs.

The failures are provoked against real services (and curl, where installed);
what the clients, the servers and the tools printed is collected, and each
"you see" line of the document must be found in it.
"""

from __future__ import annotations

import datetime
import re
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from devpki import DevPKI
from teach_support import expected_pattern, running_lab

from harness.ports import free_port
from harness.processes import REPO, run_module, tls_env
from tools import scenarios

DOC = REPO / "docs" / "troubleshooting.md"


def quoted_messages() -> list[str]:
    """The lines of the document's ```text blocks."""
    blocks = re.findall(r"```text\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _message(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except Exception as exc:  # the message is what we collect
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def _curl(*args: str) -> str:
    if shutil.which("curl") is None:
        return ""
    done = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=20)
    return done.stdout + done.stderr


def _without_key_identifiers(folder: Path) -> tuple[Path, Path, Path]:
    """A CA without SKI and a leaf without AKI, as some older tools make them."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )

    def build(
        subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    paths = folder / "ca.pem", folder / "leaf.pem", folder / "key.pem"
    paths[0].write_bytes(build("old CA", "old CA", ca_key, True).public_bytes(pem))
    paths[1].write_bytes(build("localhost", "old CA", leaf_key, False).public_bytes(pem))
    paths[2].write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _strict_client_message(folder: Path) -> str:
    ca, leaf, key = _without_key_identifiers(folder)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(leaf, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_one() -> None:
        conn, _ = listener.accept()
        try:
            server.wrap_socket(conn, server_side=True).close()
        except OSError:
            conn.close()

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(ca))
    client.verify_flags |= ssl.VERIFY_X509_STRICT  # 3.13's default
    port = listener.getsockname()[1]

    def connect() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            client.wrap_socket(raw, server_hostname="localhost").close()

    message = _message(connect)
    thread.join(5)
    listener.close()
    return message


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("troubleshooting")
    seen: list[str] = []
    with running_lab(base) as (pair, lab):
        for scenario in scenarios.SCENARIOS:
            seen.append(scenarios.client_view(lab, scenario.prepare(lab))[0])
        pki, url = pair.pki_dir, pair.orders_url
        other = DevPKI(base / "other")
        other.make_default()
        untrusted = ssl.create_default_context(cafile=str(other.ca_cert_path))
        seen.append(_message(lambda: httpx.get(url + "/health", verify=untrusted)))
        trusted = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        seen.append(
            _message(lambda: httpx.get(f"https://localhost:{free_port()}/", verify=trusted))
        )
        seen.append(
            _message(lambda: ssl.create_default_context(cafile=str(pki / "truststore.p12")))
        )
        store = pki / "storefront"
        pem_pair = (str(store / "chain.pem"), str(store / "key.pem"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            httpx.Client(cert=pem_pair, verify=trusted).close()
            own_transport = httpx.HTTPTransport(verify=trusted, retries=2)
            client = httpx.Client(cert=pem_pair, verify=trusted, transport=own_transport)
            seen.append(_message(lambda: client.get(url + "/health").raise_for_status()))
            client.close()
        seen += [str(w.message) for w in caught]
        env = tls_env(
            pki, "orders", MTLS_CA=str(pki / "truststore.p12"), ORDERS_PORT=str(free_port())
        )
        seen.append(run_module("orders", env, timeout=30).stderr)
        with_cert = ["--cert", str(store / "chain.pem"), "--key", str(store / "key.pem")]
        seen.append(_curl("--cacert", str(pki / "ca.crt"), url + "/health"))
        seen.append(_curl("--cacert", str(other.ca_cert_path), *with_cert, url + "/health"))
        seen.append(_curl("--cacert", str(pki / "ca.crt"), f"https://localhost:{free_port()}/"))
        seen.append(_curl("--cacert", str(pki / "truststore.p12"), *with_cert, url + "/health"))
        resolve = f"orders.invalid:{pair.orders_port}:127.0.0.1"
        invalid = f"https://orders.invalid:{pair.orders_port}/health"
        seen.append(
            _curl("--cacert", str(pki / "ca.crt"), *with_cert, "--resolve", resolve, invalid)
        )
        seen.append(_strict_client_message(base))
        seen += [
            pair.orders.output() if pair.orders else "",
            pair.payments.output() if pair.payments else "",
        ]
    return "\n".join(seen)


@pytest.mark.parametrize("message", quoted_messages())
def test_troubleshooting_quotes_a_message_that_really_occurs(observed: str, message: str) -> None:
    from_curl = message.startswith("curl") or message == "Couldn't connect to server"
    if from_curl and shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    assert re.search(expected_pattern(message), observed), (
        f"{message!r} was not seen:\n{observed[-3000:]}"
    )


def test_the_document_quotes_the_python_traps() -> None:
    messages = "\n".join(quoted_messages())
    assert "Server disconnected without sending a response." in messages
    assert "Missing Authority Key Identifier" in messages
    assert "`cert=...` is deprecated" in messages
