"""Benchmark: the decision service under load and under faults, on loopback, on this machine.

The server is the real thing (`creditflow serve`, one process, SQLite audit log in WAL mode) and the
load generator is an open-loop asyncio client written here (raw HTTP/1.1 over keep-alive
connections, requests scheduled at a fixed rate whatever the server does, so a slow server cannot
slow the client down and hide its own latency). Latency is measured from the *scheduled* send time
to the last byte of the response (the "corrected" latency; queueing in the client counts against the
server) and also from the actual send.

    .venv/bin/python benchmarks/bench_service.py                 # load (60 s at 500/s) + faults
    .venv/bin/python benchmarks/bench_service.py load --rate 500 --duration 60
    .venv/bin/python benchmarks/bench_service.py faults

Phases:
  load    60 s at 500 requests/s, 1% malformed bodies mixed in: p50/p99 latency, zero errors, every
          malformed request answered 422, audit rows == successful decisions exactly.
  reload  30 s at 500/s with an admin reload (alternating two bundles) every second: zero errors.
  faults  kill -9 of the server at 500/s with Idempotency-Keys; restart on the same database:
          integrity check, no duplicate or partial rows, every decision a client saw is recorded,
          retries of the unanswered requests recorded once. Then a tampered bundle: refused at
          start with exit status 2 and a one-line reason.

Writes ``benchmarks/results/service.json``. Bounded in count and time; talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
UCI = ROOT.parent / "shared" / "data" / "uci_taiwan" / "UCI_Credit_Card.csv"
TARGET = "default.payment.next.month"
POLICY = ROOT / "examples" / "policy.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "service.json"
API_KEY = "bench-api-key-0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
HOST = "127.0.0.1"


# ----------------------------------------------------------------------------------- load generator
@dataclass
class Result:
    kind: str  # good | malformed | reload
    scheduled: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    error: str = ""
    body: bytes = b""
    key: str | None = None


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", "Content-Type: application/json",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def open_loop(port: int, jobs: list[tuple[str, str, bytes, dict]], rate: float, connections: int,
                    keep_body: bool = False, stop_after: float | None = None) -> list[Result]:
    """Send `jobs` (kind, path, body, headers) at `rate` per second; return one Result per job sent."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(port))
    results: list[Result] = []
    tasks = []

    async def one(res: Result, conn: Connection, path: str, body: bytes, headers: dict) -> None:
        res.sent = loop.time()
        try:
            res.status, payload = await asyncio.wait_for(conn.request(path, body, headers), 30)
            if keep_body or res.status != 200:
                res.body = payload
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            res.error = type(exc).__name__
            conn.close()
        res.done = loop.time()
        idle.put_nowait(conn)

    start = loop.time() + 0.05
    for i, (kind, path, body, headers) in enumerate(jobs):
        target = start + i / rate
        if stop_after is not None and target - start > stop_after:
            break
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await idle.get()
        res = Result(kind=kind, scheduled=target, key=headers.get("Idempotency-Key"))
        results.append(res)
        tasks.append(asyncio.create_task(one(res, conn, path, body, headers)))
    await asyncio.gather(*tasks)
    for _ in range(connections):
        (await idle.get()).close()
    return results


# ------------------------------------------------------------------------------------------- jobs
def applicants(n: int, seed: int) -> list[dict]:
    frame = pd.read_csv(UCI).drop(columns=[TARGET, "ID"])
    rows = frame.sample(n=n, replace=n > len(frame), random_state=seed).to_dict(orient="records")
    return [{k: float(v) for k, v in r.items()} for r in rows]


def malformed(rng: random.Random, a: dict) -> bytes:
    """One of the ways a client gets a request wrong."""
    choice = rng.randrange(8)
    if choice == 0:
        return b'{"applicant": {"PAY_0": '  # truncated JSON
    if choice == 1:
        return json.dumps({"applicant": {**a, "PAY_0": "two"}}).encode()
    if choice == 2:
        return json.dumps({"applicant": {k: v for k, v in a.items() if k != "LIMIT_BAL"}}).encode()
    if choice == 3:
        return json.dumps({"applicant": {**a, "AGE": -5}}).encode()
    if choice == 4:
        return json.dumps({"applicant": {**a, "LIMIT_BAL": None}}).encode()
    if choice == 5:
        return b'{"applicant": {"AGE": NaN}}'
    if choice == 6:
        return json.dumps([a]).encode()
    return json.dumps({"applicant": {**a, "LIMIT_BAL": 1e300}}).encode()


def make_jobs(n: int, seed: int, malformed_share: float = 0.0, idempotent: bool = False) -> list[tuple]:
    rng = random.Random(seed)
    people = applicants(min(n, 30000), seed)
    headers = {"X-API-Key": API_KEY}
    jobs = []
    for i in range(n):
        a = people[i % len(people)]
        if rng.random() < malformed_share:
            jobs.append(("malformed", "/v1/decisions", malformed(rng, a), headers))
            continue
        h = {**headers, "Idempotency-Key": f"bench-{seed}-{i}"} if idempotent else headers
        body = json.dumps({"application_id": f"app-{seed}-{i}", "applicant": a}).encode()
        jobs.append(("good", "/v1/decisions", body, h))
    return jobs


# ------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    options: list[str] = []  # extra `creditflow serve` options for every server of the run (--http, --loop)

    def __init__(self, bundle: Path, workdir: Path, workers: int = 1, port: int | None = None) -> None:
        self.bundle, self.workdir, self.workers = bundle, workdir, workers
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.db = workdir / "audit.db"

    def start(self) -> Server:
        env = {**os.environ, "CREDITFLOW_API_KEYS": API_KEY, "CREDITFLOW_ADMIN_KEYS": ADMIN_KEY}
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "creditflow", "serve", str(self.bundle), "--policy", str(POLICY),
             "--audit", str(self.db), "--host", HOST, "--port", str(self.port), "--workers", str(self.workers),
             "--log-level", "warning", *self.options], cwd=self.workdir, env=env, stdout=log,
            stderr=subprocess.STDOUT)
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {(self.workdir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://{HOST}:{self.port}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not become ready in 120 s")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (and its workers), from /proc."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def audit_stats(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM decisions").fetchone()
        keys, distinct_keys = conn.execute(
            "SELECT COUNT(idempotency_key), COUNT(DISTINCT idempotency_key) FROM decisions").fetchone()
        partial = conn.execute(
            "SELECT COUNT(*) FROM decisions WHERE input_json = '' OR input_hash = '' OR model_version = '' "
            "OR reasons_json = '' OR decision NOT IN ('approve', 'review', 'reject')").fetchone()[0]
        ids = {r[0] for r in conn.execute("SELECT request_id FROM decisions")}
    finally:
        conn.close()
    return {"integrity_check": integrity, "rows": rows, "distinct_request_ids": distinct,
            "idempotency_keys": keys, "distinct_idempotency_keys": distinct_keys, "partial_rows": partial,
            "ids": ids}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


def latency(results: list[Result]) -> dict:
    ok = [r for r in results if not r.error]
    corrected = [r.done - r.scheduled for r in ok]
    service = [r.done - r.sent for r in ok]
    return {
        "p50_ms": round(pct(corrected, 50), 3), "p90_ms": round(pct(corrected, 90), 3),
        "p99_ms": round(pct(corrected, 99), 3), "p999_ms": round(pct(corrected, 99.9), 3),
        "max_ms": round(pct(corrected, 100), 3),
        "from_send": {"p50_ms": round(pct(service, 50), 3), "p99_ms": round(pct(service, 99), 3)},
    }


# ------------------------------------------------------------------------------------------ phases
def train_bundle(workdir: Path, name: str, rows: slice) -> Path:
    from creditflow.data.io import read_table
    from creditflow.workflow import train

    csv = workdir / f"{name}.csv"
    pd.read_csv(UCI).iloc[rows].to_csv(csv, index=False)
    train(read_table(csv, TARGET, id="ID"), workdir / name)
    return workdir / name / "model"


def phase_load(bundle: Path, workdir: Path, rate: float, duration: float, connections: int, workers: int,
               malformed_share: float) -> dict:
    (workdir / "load").mkdir()
    server = Server(bundle, workdir / "load", workers).start()
    n = int(rate * duration)
    warm = make_jobs(int(rate * 5), seed=1)
    jobs = make_jobs(n, seed=2, malformed_share=malformed_share)
    try:
        asyncio.run(open_loop(server.port, warm, rate, connections))
        before_rows = audit_stats(server.db)["rows"]
        cpu0, load0, t0 = server.cpu_seconds(), os.getloadavg(), time.perf_counter()
        client0 = time.process_time()
        results = asyncio.run(open_loop(server.port, jobs, rate, connections))
        wall, client_cpu = time.perf_counter() - t0, time.process_time() - client0
        cpu1, load1 = server.cpu_seconds(), os.getloadavg()
        stats = audit_stats(server.db)
    finally:
        server.stop()
    good = [r for r in results if r.kind == "good"]
    bad = [r for r in results if r.kind == "malformed"]
    ok = sum(r.status == 200 for r in good)
    return {
        "rate_per_s": rate, "duration_s": duration, "requests": len(results), "connections": connections,
        "workers": workers, "achieved_rate_per_s": round(len(results) / (max(r.done for r in results)
                                                                         - min(r.scheduled for r in results)), 1),
        "latency_good": latency(good), "latency_all": latency(results),
        "status_good": _count(r.status for r in good), "status_malformed": _count(r.status for r in bad),
        "malformed": len(bad), "errors": sum(1 for r in results if r.error or r.status >= 500),
        "connection_errors": _count(r.error for r in results if r.error),
        "audit_rows_added": stats["rows"] - before_rows, "successful_decisions": ok,
        "audit_rows_equal_successes": stats["rows"] - before_rows == ok,
        "server_cpu_s": round(cpu1 - cpu0, 2), "server_cpu_ms_per_request": round(1000 * (cpu1 - cpu0) / len(results), 3),
        "client_cpu_s": round(client_cpu, 2), "wall_s": round(wall, 2),
        "load_average_before": [round(x, 2) for x in load0], "load_average_after": [round(x, 2) for x in load1],
    }


def _count(values) -> dict:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def phase_reload(bundle: Path, other: Path, workdir: Path, rate: float, duration: float, connections: int) -> dict:
    (workdir / "reload").mkdir()
    server = Server(bundle, workdir / "reload").start()
    jobs = make_jobs(int(rate * duration), seed=3)
    versions = {}

    async def run() -> tuple[list[Result], list[int]]:
        import httpx

        statuses = []

        async def reloader() -> None:
            async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}",
                                         headers={"X-API-Key": ADMIN_KEY}) as c:
                for i in range(int(duration)):
                    await asyncio.sleep(1.0)
                    target = other if i % 2 == 0 else bundle
                    r = await c.post("/v1/admin/reload", json={"model_dir": str(target)}, timeout=60)
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions[str(target)] = r.json()["model_version"]

        load = asyncio.create_task(open_loop(server.port, jobs, rate, connections, keep_body=True))
        await reloader()
        return await load, statuses

    try:
        results, reload_statuses = asyncio.run(run())
        stats = audit_stats(server.db)
    finally:
        server.stop()
    served = _count(json.loads(r.body)["model_version"] for r in results if r.status == 200)
    ok = sum(r.status == 200 for r in results)
    return {"rate_per_s": rate, "duration_s": duration, "requests": len(results), "reloads": len(reload_statuses),
            "reload_status": _count(reload_statuses), "status": _count(r.status for r in results),
            "errors": sum(1 for r in results if r.error or r.status != 200),
            "decisions_by_model_version": served, "latency": latency(results),
            "audit_rows": stats["rows"], "audit_rows_equal_successes": stats["rows"] == ok}


def phase_kill(bundle: Path, workdir: Path, rate: float, kill_after: float, connections: int) -> dict:
    (workdir / "kill").mkdir()
    server = Server(bundle, workdir / "kill").start()
    jobs = make_jobs(int(rate * (kill_after + 2)), seed=4, idempotent=True)

    async def run() -> list[Result]:
        load = asyncio.create_task(open_loop(server.port, jobs, rate, connections, keep_body=True,
                                             stop_after=kill_after + 1))
        await asyncio.sleep(kill_after)
        server.kill9()
        return await load

    results = asyncio.run(run())
    seen = {json.loads(r.body)["request_id"]: r.key for r in results if r.status == 200}
    unanswered = [r for r in results if r.status != 200]
    after_kill = audit_stats(server.db)  # opens cleanly?
    server.start()  # same port, same database
    try:
        by_key = {j[3].get("Idempotency-Key"): j for j in jobs}
        retry_jobs = [by_key[r.key] for r in unanswered]
        retries = asyncio.run(open_loop(server.port, retry_jobs, rate, connections, keep_body=True)) if retry_jobs else []
        again = asyncio.run(open_loop(server.port, [by_key[k] for k in list(seen.values())[:200]], rate,
                                      connections, keep_body=True))
        final = audit_stats(server.db)
    finally:
        server.stop()
    replay_same = all(json.loads(r.body)["request_id"] in seen for r in again if r.status == 200)
    answered_keys = set(seen.values()) | {r.key for r in retries if r.status == 200}
    return {
        "rate_per_s": rate, "killed_after_s": kill_after, "sent_before_kill": len(results),
        "answered_before_kill": len(seen), "unanswered_at_kill": len(unanswered),
        "after_kill": {k: v for k, v in after_kill.items() if k != "ids"},
        "every_answered_decision_recorded": set(seen) <= after_kill["ids"],
        "recorded_but_unanswered": len(after_kill["ids"] - set(seen)),
        "retried": len(retries), "retry_status": _count(r.status for r in retries),
        "replayed_answered": len(again), "replays_return_first_response": replay_same,
        "final": {k: v for k, v in final.items() if k != "ids"},
        "final_rows_equal_distinct_applications": final["rows"] == len(answered_keys) == final["distinct_idempotency_keys"],
    }


def phase_tampered(bundle: Path, workdir: Path) -> dict:
    bad = workdir / "tampered"
    shutil.copytree(bundle, bad)
    model = bad / "model.json"  # a points tweak that stays valid JSON: only the manifest can tell
    text = model.read_text(encoding="utf-8")
    base = re.search(r'"base_points": (-?\d+)', text)
    model.write_text(text.replace(base.group(0), f'"base_points": {int(base.group(1)) + 25}', 1), encoding="utf-8")
    env = {**os.environ, "CREDITFLOW_API_KEYS": API_KEY}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "creditflow", "serve", str(bad), "--host", HOST, "--port",
                        str(free_port()), "--audit", str(workdir / "t.db")], env=env, capture_output=True, text=True,
                       timeout=120)
    return {"exit_status": r.returncode, "message": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "",
            "traceback": "Traceback" in r.stderr, "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", nargs="?", default="all", choices=["all", "load", "reload", "faults"])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--malformed", type=float, default=0.01)
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--tag", default="", help="suffix for the result keys (e.g. h11), to keep several runs")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    Server.options = ["--http", args.http, "--loop", args.loop]
    import importlib.util

    http = args.http if args.http != "auto" else ("httptools" if importlib.util.find_spec("httptools") else "h11")
    loop = args.loop if args.loop != "auto" else ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    workdir = Path(tempfile.mkdtemp(prefix="bench-service-"))
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "platform": platform.platform()},
                 "client": "open-loop asyncio, raw HTTP/1.1 keep-alive (benchmarks/bench_service.py)",
                 "server": f"creditflow serve --workers {args.workers} (uvicorn, {http} parser, {loop} loop), "
                           "SQLite audit log (WAL, synchronous=NORMAL)"}
    try:
        t0 = time.perf_counter()
        bundle = train_bundle(workdir, "model_a", slice(0, 20000))
        out["train_s"] = round(time.perf_counter() - t0, 1)
        if args.phase in ("all", "load"):
            out["load"] = phase_load(bundle, workdir, args.rate, args.duration, args.connections, args.workers,
                                     args.malformed)
            print(json.dumps(out["load"], indent=1))
        if args.phase in ("all", "reload"):
            other = train_bundle(workdir, "model_b", slice(20000, 30000))
            out["reload"] = phase_reload(bundle, other, workdir, args.rate, min(args.duration, 30), args.connections)
            print(json.dumps(out["reload"], indent=1))
        if args.phase in ("all", "faults"):
            out["kill9"] = phase_kill(bundle, workdir, args.rate, 5.0, args.connections)
            print(json.dumps(out["kill9"], indent=1))
            out["tampered_bundle"] = phase_tampered(bundle, workdir)
            print(json.dumps(out["tampered_bundle"], indent=1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_write:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        suffix = f"_{args.tag}" if args.tag else ""
        previous.update({f"{k}{suffix}" if isinstance(v, dict) and k not in ("machine",) else k: v
                         for k, v in out.items()})
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
