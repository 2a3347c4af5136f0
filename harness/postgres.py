"""A real PostgreSQL for the tests: Debian's postgresql-15, in a folder of its own.

Its server certificate comes from the project's PKI (`postgres`, for localhost
and 127.0.0.1), its trust anchor and CRL are the PKI's. Over TCP it accepts
TLS 1.3 and client certificates only (`hostssl ... cert`: the role is the
certificate's CN); nothing has a password. The set-up, and the tests' own reads,
go through the Unix socket as the `postgres` superuser (`local ... peer`, the OS
user running the tests mapped to it), which no service uses. Its settings, pg_hba.conf
and roles are deploy/postgres/'s, the files compose runs; only the places differ.

initdb refuses to run as root, so as root every server command runs as the
`postgres` user (`runuser`), in a folder that user owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from devpki import DevPKI

from harness.ports import free_port
from harness.processes import children_of, tree_cpu_seconds

PG_BIN = Path(os.environ.get("MTLS_PG_BIN", "/usr/lib/postgresql/15/bin"))
CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "postgres"  # as compose runs it
SERVICES = ("orders", "payments")


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgreSQL:
    """One cluster on 127.0.0.1:port; `url(service)` is how that service reaches its database."""

    def __init__(self, pki: DevPKI, *, plain_tcp_for_bench: bool = False) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(
                f"no PostgreSQL in {PG_BIN}: install Debian's postgresql-15 "
                "(scripts/ci/tools.sh does) or set MTLS_PG_BIN"
            )
        self.pki, self.port, self.plain_tcp_for_bench = pki, free_port(), plain_tcp_for_bench
        self.root = Path(tempfile.mkdtemp(prefix="mtls-pg-"))
        self.data, self.socket_dir = self.root / "data", self.root / "sock"
        self.socket_dir.mkdir()
        self._tls_files()
        _give_to_server(self.root, self.socket_dir, *self.root.glob("tls/*"), self.root / "tls")
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
        if self.pki.exists("postgres"):  # devpki make-default issued it
            leaf = self.pki.leaf("postgres")
        else:
            leaf = self.pki.issue("postgres", dns=("postgres", "localhost"), ips=("127.0.0.1",))
        shutil.copy(leaf.chain_path, tls / "server.crt")
        shutil.copy(leaf.key_path, tls / "server.key")
        (tls / "server.key").chmod(0o600)
        shutil.copy(self.pki.ca_cert_path, tls / "ca.crt")
        shutil.copy(self.pki.chain_crl_path, tls / "crl.pem")

    def _configure(self) -> None:
        """deploy/postgres/postgresql.conf (as compose runs it), with only its places changed."""
        tls = self.root / "tls"
        places = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "ssl_cert_file": f"'{tls / 'server.crt'}'",
            "ssl_key_file": f"'{tls / 'server.key'}'",
            "ssl_ca_file": f"'{tls / 'ca.crt'}'",
            "ssl_crl_file": f"'{tls / 'crl.pem'}'",
            "hba_file": f"'{self._hba_file()}'",
            "ident_file": f"'{self.root / 'pg_ident.conf'}'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"include '{CONFIG / 'postgresql.conf'}'\n")
            conf.writelines(f"{name} = {value}\n" for name, value in places.items())
        # The OS user running the tests may be the superuser over the socket, as postgres is.
        ident = (CONFIG / "pg_ident.conf").read_text()
        (self.root / "pg_ident.conf").write_text(ident + f"admin  {getpass.getuser()}  postgres\n")
        _give_to_server(self.root / "pg_ident.conf")

    def _hba_file(self) -> Path:
        """deploy/postgres/pg_hba.conf; for the bench's plain-TCP variant, one line more."""
        if not self.plain_tcp_for_bench:
            return CONFIG / "pg_hba.conf"
        hba = self.root / "pg_hba.conf"
        plain = "hostnossl  all  all  127.0.0.1/32  trust  # bench only: TLS's cost on this hop\n"
        hba.write_text((CONFIG / "pg_hba.conf").read_text() + plain)
        _give_to_server(hba)
        return hba

    def cpu_seconds(self) -> float:
        """CPU used so far by the server: the postmaster and every backend."""
        return tree_cpu_seconds(self.postmaster_pid())

    def _create_roles(self) -> None:
        self._run([*self._psql("postgres"), "-f", str(CONFIG / "roles.sql")])

    def reset(self) -> None:
        """Empty databases for every service again (a new pair of services starts clean)."""
        for service in SERVICES:
            self.psql(f"DROP DATABASE IF EXISTS {service} WITH (FORCE);")
            self.psql(f"CREATE DATABASE {service} OWNER {service};")
            self.psql(f"REVOKE ALL ON DATABASE {service} FROM PUBLIC;")

    # ------------------------------------------------------------ use
    def query(self, database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Read a database as the superuser over the socket (the tests' view, not a service's)."""

        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(
                host=str(self.socket_dir), port=self.port, user="postgres", database=database
            )
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())

    def url(self, service: str) -> str:
        return f"postgresql://{service}@localhost:{self.port}/{service}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; its output."""
        return self._run([*self._psql(database), "-c", sql]).stdout

    def _psql(self, database: str) -> list[str]:
        return [str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-XAtq"]  # fmt: skip

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
        """SIGKILL the postmaster and every backend at once: a crash, not a shutdown.

        Killing the postmaster alone leaves its backends serving until they notice, and a
        new postmaster refuses to start beside their shared memory.
        """
        postmaster = self.postmaster_pid()
        pids = [postmaster, *children_of(postmaster)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        # The dead postmaster may linger as a zombie (nothing here reaps it), and PostgreSQL
        # takes a zombie's PID in its lock files for a running server: they go.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            lock.unlink()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def publish_crl(self) -> None:
        """The PKI's current CRL to the server, then `SELECT pg_reload_conf()` (no restart)."""
        target = self.root / "tls" / "crl.pem"
        shutil.copy(self.pki.chain_crl_path, target)
        _give_to_server(target)
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


def _give_to_server(*paths: Path) -> None:
    """As root, the server runs as `postgres`: its files must be that user's."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    return False


_CLUSTERS: dict[Path, PostgreSQL] = {}


def cluster_for(pki_dir: Path) -> PostgreSQL:
    """One cluster per PKI for a whole test session (it trusts that PKI's CA and CRL)."""
    key = pki_dir.resolve()
    if key not in _CLUSTERS:
        _CLUSTERS[key] = PostgreSQL(DevPKI(key))
    return _CLUSTERS[key]


def close_clusters() -> None:
    while _CLUSTERS:
        _CLUSTERS.popitem()[1].close()
