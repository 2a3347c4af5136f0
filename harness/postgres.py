"""A real PostgreSQL for the tests: Debian's postgresql-15, in a folder of its own.

Its server certificate comes from the project's PKI (`postgres`, for localhost
and 127.0.0.1), its trust anchor and CRL are the PKI's. Over TCP it accepts
TLS 1.3 and client certificates only (`hostssl ... cert`: the role is the
certificate's CN); nothing has a password. The set-up itself goes through the
Unix socket as the `postgres` superuser (`local ... peer`), which no service uses.

initdb refuses to run as root, so as root every server command runs as the
`postgres` user (`runuser`), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devpki import DevPKI

from harness.ports import free_port

PG_BIN = Path(os.environ.get("MTLS_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVICES = ("orders", "payments")


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgreSQL:
    """One cluster on 127.0.0.1:port; `url(service)` is how that service reaches its database."""

    def __init__(self, pki: DevPKI) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(
                f"no PostgreSQL in {PG_BIN}: install Debian's postgresql-15 "
                "(scripts/ci/tools.sh does) or set MTLS_PG_BIN"
            )
        self.pki, self.port = pki, free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mtls-pg-"))
        self.data, self.socket_dir = self.root / "data", self.root / "sock"
        self.socket_dir.mkdir()
        self._tls_files()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.root, self.socket_dir, *self.root.glob("tls/*"), self.root / "tls"):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=reject", "--no-sync", "-E", "UTF8"])  # fmt: skip
        self._configure()
        self.start()
        self._create_roles()

    # ------------------------------------------------------------ set-up
    def _tls_files(self) -> None:
        """The server's certificate, key (0600, owned by the server's user), CA and CRL."""
        tls = self.root / "tls"
        tls.mkdir()
        leaf = self.pki.issue("postgres", dns=("postgres", "localhost"), ips=("127.0.0.1",))
        shutil.copy(leaf.chain_path, tls / "server.crt")
        shutil.copy(leaf.key_path, tls / "server.key")
        (tls / "server.key").chmod(0o600)
        shutil.copy(self.pki.ca_cert_path, tls / "ca.crt")
        shutil.copy(self.pki.crl_path, tls / "crl.pem")

    def _configure(self) -> None:
        tls = self.root / "tls"
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "ssl": "on",
            "ssl_cert_file": f"'{tls / 'server.crt'}'",
            "ssl_key_file": f"'{tls / 'server.key'}'",
            "ssl_ca_file": f"'{tls / 'ca.crt'}'",
            "ssl_crl_file": f"'{tls / 'crl.pem'}'",
            "ssl_min_protocol_version": "'TLSv1.3'",
            "synchronous_commit": "on",
            "fsync": "on",
            "max_connections": "50",
            "shared_buffers": "32MB",
            "log_connections": "on",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        (self.data / "pg_hba.conf").write_text(
            "# TYPE   DATABASE  USER      ADDRESS        METHOD\n"
            "local    all       postgres                 peer\n"
            "hostssl  all       all       127.0.0.1/32   cert\n"
        )

    def _create_roles(self) -> None:
        statements = ["REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;"]
        for service in SERVICES:
            statements += [
                f"CREATE ROLE {service} LOGIN;",
                f"CREATE DATABASE {service} OWNER {service};",
                f"REVOKE ALL ON DATABASE {service} FROM PUBLIC;",
            ]
        for statement in statements:
            self.psql(statement)

    # ------------------------------------------------------------ use
    def url(self, service: str) -> str:
        return f"postgresql://{service}@localhost:{self.port}/{service}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; its output."""
        argv = [str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                "-XAtqc", sql]  # fmt: skip
        return self._run(argv).stdout

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            _as_server_user(argv), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()}")
        return done

    def start(self) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                   "-w", "-t", "60", "start"])  # fmt: skip

    def stop(self) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def kill(self) -> None:
        """SIGKILL the postmaster (and so every backend): a crash, not a shutdown."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def publish_crl(self) -> None:
        """The PKI's current CRL to the server, then `SELECT pg_reload_conf()` (no restart)."""
        target = self.root / "tls" / "crl.pem"
        shutil.copy(self.pki.crl_path, target)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(target, user.pw_uid, user.pw_gid)
        self.psql("SELECT pg_reload_conf();")

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgreSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
