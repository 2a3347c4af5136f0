"""A real Prometheus for the tests: the binaries, the committed config made local, a server.

The config and the rules are the ones compose runs (`monitoring/`); only what
differs on the host changes here: each job's target, the files of the ops
certificate and the CA, `server_name` (every devpki server certificate names
localhost) and the intervals, made short so that an alert fires in seconds.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.polling import eventually
from harness.ports import free_port
from harness.processes import REPO, ServerProcess

MONITORING = REPO / "monitoring"
TOOLS_SCRIPT = REPO / "scripts" / "monitoring" / "tools.sh"


@functools.cache
def bin_dir() -> Path:
    """The folder with prometheus and promtool (scripts/monitoring/tools.sh finds or unpacks it)."""
    done = subprocess.run(
        [str(TOOLS_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{TOOLS_SCRIPT.name} found no Prometheus: {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir() / "promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def local_config(pki_dir: Path, targets: Mapping[str, str], interval: str = "1s") -> dict[str, Any]:
    """monitoring/prometheus.yml for this host: the jobs named in `targets` (job -> host:port)."""
    config: dict[str, Any] = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(MONITORING / rules) for rules in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] not in targets:
            continue
        job["tls_config"] = {
            **job["tls_config"],
            "ca_file": str(pki_dir / "ca.crt"),
            "cert_file": str(pki_dir / "ops" / "chain.pem"),
            "key_file": str(pki_dir / "ops" / "key.pem"),
            "server_name": "localhost",
        }
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    """`prometheus` on 127.0.0.1 with a config file, its data in a temporary folder."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            str(bin_dir() / "prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = ServerProcess.command("prometheus", argv, self.port, workdir / "log")
        self.process.wait_listening()

    def api(self, path: str, **params: str) -> Any:
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]

    def targets(self) -> dict[str, dict[str, Any]]:
        """The active targets by job: health ("up"), lastError, scrapeUrl."""
        return {t["labels"]["job"]: t for t in self.api("targets")["activeTargets"]}

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.api("alerts")["alerts"] if a["state"] == "firing"]

    def wait_for(self, what: str, check: Any, timeout: float = 30.0) -> Any:
        """`eventually(check)`, with the end of Prometheus's log when it times out."""
        try:
            return eventually(check, what, timeout)
        except AssertionError as exc:
            log = (self.process.log.read_text() if self.process.log else "")[-2000:]
            raise AssertionError(f"Prometheus: {exc}; its log:\n{log}") from None

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
