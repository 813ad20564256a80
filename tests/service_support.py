"""Shared pieces of the service and policy tests: trained bundles, a real `creditflow serve` process,
and a throwaway PostgreSQL cluster.

Fixtures are imported into the test modules that use them; trained bundles are cached for the whole
session so every module shares one training run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import UCI, UCI_TARGET

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_POLICY = ROOT / "examples" / "policy.yaml"
API_KEY = "test-api-key-0123456789abcdef"
API_KEY_2 = "second-api-key-from-hashed-file-0001"
ADMIN_KEY = "test-admin-key-0123456789abcdef"
TRAIN_ROWS = 3000
_CACHE: dict[str, Path] = {}


def uci_frame() -> pd.DataFrame:
    return pd.read_csv(UCI)


def train_bundle(root: Path, name: str, rows: slice, kind: str = "scorecard") -> Path:
    """Train a model on some UCI rows with the real workflow; cached per name for the session."""
    if name in _CACHE:
        return _CACHE[name]
    from creditflow.data.io import read_table
    from creditflow.workflow import train

    csv = root / f"{name}.csv"
    uci_frame().iloc[rows].to_csv(csv, index=False)
    ds = read_table(csv, UCI_TARGET, id="ID")
    train(ds, root / name, kind=kind)
    _CACHE[name] = root / name / "model"
    return _CACHE[name]


@pytest.fixture(scope="session")
def service_bundle(tmp_path_factory) -> Path:
    """The test model: a scorecard trained on the first 3,000 UCI rows."""
    return train_bundle(tmp_path_factory.getbasetemp(), "svc_model_a", slice(0, TRAIN_ROWS))


@pytest.fixture(scope="session")
def other_bundle(tmp_path_factory) -> Path:
    """A second model (other rows, so another model version), for reloads."""
    return train_bundle(tmp_path_factory.getbasetemp(), "svc_model_b", slice(TRAIN_ROWS, 2 * TRAIN_ROWS))


@pytest.fixture(scope="session")
def applicants() -> list[dict]:
    """Real applicants the test model has not seen (UCI rows 20,000-20,400), as JSON-ready dicts."""
    frame = uci_frame().iloc[20_000:20_400].drop(columns=[UCI_TARGET, "ID"])
    return [{k: float(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    """A `creditflow serve` subprocess on 127.0.0.1 and a free port."""

    args: list[str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        env = {**os.environ, "CREDITFLOW_API_KEYS": API_KEY, "CREDITFLOW_ADMIN_KEYS": ADMIN_KEY, **self.env}
        cmd = [sys.executable, "-m", "creditflow", "serve", *self.args, "--host", "127.0.0.1",
               "--port", str(self.port)]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log()}")

    def client(self, key: str | None = API_KEY, **kw) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


def run_serve(args: list[str], cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `creditflow serve` expecting it to stop by itself (bad input)."""
    full_env = {**os.environ, "CREDITFLOW_API_KEYS": API_KEY, **(env or {})}
    port = [] if "--port" in args else ["--port", str(free_port())]
    return subprocess.run([sys.executable, "-m", "creditflow", "serve", *args, "--host", "127.0.0.1", *port],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------------ PostgreSQL
def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        pytest.fail(f"PostgreSQL is not installed ({name} not found on PATH or in /usr/lib/postgresql/*/bin): "
                    "apt-get install postgresql")
    return candidates[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with trust authentication."""

    datadir: Path
    port: int
    pg_ctl: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        cmd = _as_postgres([self.pg_ctl, "-D", str(self.datadir), *args])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"pg_ctl {' '.join(args)} failed: {r.stdout}{r.stderr}")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.datadir.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-o", opts, "-l", str(self.datadir.parent / "pg.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "-w", "stop")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """Start a fresh cluster (initdb + pg_ctl) in a temporary directory; FAILS if PostgreSQL is missing."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="creditflow-pg-", dir="/tmp"))
    datadir = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    r = subprocess.run(_as_postgres([initdb, "-D", str(datadir), "--username=postgres", "--auth=trust",
                                     "--encoding=UTF8", "--no-sync"]), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stdout}{r.stderr}")
    cluster = PostgresCluster(datadir=datadir, port=free_port(), pg_ctl=pg_ctl)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
