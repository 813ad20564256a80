"""Swapping bundles under traffic: admin reload and SIGHUP, one worker and several; a tampered or
inconsistent bundle is refused and the old one keeps serving; no request is dropped."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from creditflow.bundle import load_bundle
from tests.service_support import (  # noqa: F401
    ADMIN_KEY,
    API_KEY,
    API_KEY_2,
    EXAMPLE_POLICY,
    ServiceProcess,
    applicants,
    other_bundle,
    service_bundle,
)


def tamper(bundle: Path, dest: Path) -> Path:
    """A copy of `bundle` with one more base point: valid JSON, wrong SHA-256."""
    shutil.copytree(bundle, dest)
    model = dest / "model.json"
    text = model.read_text(encoding="utf-8")
    m = re.search(r'"base_points": (-?\d+)', text)
    model.write_text(text.replace(m.group(0), f'"base_points": {int(m.group(1)) + 1}', 1), encoding="utf-8")
    return dest


def swap_dir(src: Path, target: Path) -> None:
    """Replace directory `target` by a copy of `src` with a rename, as a deployment would."""
    tmp = target.with_name(target.name + ".new")
    shutil.copytree(src, tmp)
    old = target.with_name(target.name + ".old")
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old)


def wait_for_version(server: ServiceProcess, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/readyz", timeout=5).json().get("model_version") == version:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"model version {version} not served within {timeout} s:\n{server.log()[-3000:]}")


class Traffic:
    """Client threads posting decisions until stopped; every response is kept."""

    def __init__(self, server: ServiceProcess, people: list[dict], threads: int = 2) -> None:
        self.server, self.people = server, people
        self.responses: list[httpx.Response] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, k: int) -> None:
        with self.server.client() as c:
            i = k
            while not self._stop.is_set():
                try:
                    self.responses.append(c.post("/v1/decisions", json={"applicant": self.people[i % len(self.people)]}))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                i += len(self._threads)

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


@pytest.fixture(scope="module")
def deployed(service_bundle, tmp_path_factory):  # noqa: F811
    """A server whose MODEL_DIR is a deployment directory we can replace."""
    work = tmp_path_factory.mktemp("reload")
    current = work / "current"
    shutil.copytree(service_bundle, current)
    proc = ServiceProcess([str(current), "--policy", str(EXAMPLE_POLICY)], workdir=work).start()
    yield proc, current
    proc.stop()
    assert "Traceback" not in proc.log()


def admin(server: ServiceProcess, **body) -> httpx.Response:
    return httpx.post(server.url + "/v1/admin/reload", json=body or None, headers={"X-API-Key": ADMIN_KEY},
                      timeout=120)


def test_admin_reload_swaps_the_model_under_traffic(deployed, service_bundle, other_bundle, applicants):  # noqa: F811
    server, current = deployed
    v_a, v_b = load_bundle(service_bundle).model_version, load_bundle(other_bundle).model_version
    assert v_a != v_b
    with Traffic(server, applicants) as traffic:
        time.sleep(1)
        r = admin(server, model_dir=str(other_bundle))
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == v_b and r.json()["previous_model_version"] == v_a
        time.sleep(1)
        assert admin(server, model_dir=str(current)).status_code == 200
        time.sleep(1)
    assert not traffic.errors and traffic.responses
    assert {r.status_code for r in traffic.responses} == {200}, "no request is dropped or failed by a reload"
    served = {r.json()["request_id"]: r.json()["model_version"] for r in traffic.responses}
    assert set(served.values()) == {v_a, v_b}
    conn = sqlite3.connect(server.workdir / "creditflow-audit.db")
    logged = dict(conn.execute("SELECT request_id, model_version FROM decisions"))
    conn.close()
    assert all(logged[rid] == version for rid, version in served.items()), "each row names the model that decided"
    assert httpx.get(server.url + "/readyz").json()["model_version"] == v_a


def test_reload_refuses_a_tampered_bundle_and_keeps_serving(deployed, service_bundle, applicants, tmp_path):  # noqa: F811
    server, _ = deployed
    version = load_bundle(service_bundle).model_version
    bad = tamper(service_bundle, tmp_path / "tampered")
    r = admin(server, model_dir=str(bad))
    assert r.status_code == 422 and "SHA-256" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["loc"] == ["body", "model_dir"]
    r = admin(server, model_dir=str(tmp_path / "nowhere"))
    assert r.status_code == 422 and "not a model bundle" in r.json()["detail"][0]["msg"]
    policy = tmp_path / "p.yaml"
    policy.write_text("version: v2\ncutoffs: {approve: 530}\nrules:\n- {code: X, when: 'SALARY < 1', action: reject}\n")
    r = admin(server, policy=str(policy))
    assert r.status_code == 422 and "SALARY" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["loc"] == ["body", "policy"]  # the policy is what is wrong, not the bundle
    r = admin(server, model_dir=str(service_bundle), policy=str(tmp_path / "missing.yaml"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "policy"], r.text
    for declared, says in [("LIMIT_BAL: {type: string}", "fields.LIMIT_BAL is declared string"),
                           ("PAY_0: {min: 100}", "fields.PAY_0: min 100 leaves no valid value")]:
        policy.write_text(f"version: v3\ncutoffs: {{approve: 530}}\nfields:\n  {declared}\n")
        r = admin(server, policy=str(policy))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "policy"], r.text
        assert says in r.json()["detail"][0]["msg"], r.text
    with server.client() as c:
        doc = c.post("/v1/decisions", json={"applicant": applicants[0]}).json()
    assert (doc["model_version"], doc["policy_version"]) == (version, "uci-demo-2024.06")
    metrics = httpx.get(server.url + "/metrics", headers={"X-API-Key": ADMIN_KEY})
    assert metrics.status_code == 403  # metrics take an API key, not an admin key


def test_unknown_reload_keys_are_refused(deployed, other_bundle):  # noqa: F811
    server, _ = deployed
    for body in ({"modeldir": str(other_bundle)}, {"polcy": str(EXAMPLE_POLICY)},
                 {"model_dir": str(other_bundle), "extra": 1}):
        r = admin(server, **body)
        assert r.status_code == 422, (body, r.text)
        wrong = next(k for k in body if k not in ("model_dir", "policy"))
        assert [(d["loc"], d["type"]) for d in r.json()["detail"]] == [(["body", wrong], "extra_forbidden")]
    assert httpx.get(server.url + "/readyz").json()["model_version"] != load_bundle(other_bundle).model_version


def test_an_empty_policy_path_is_refused_not_read_as_no_policy(deployed):
    server, _ = deployed
    for body in ({"policy": ""}, {"policy": "  "}, {"model_dir": ""}):
        r = admin(server, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", *body], r.text
    # nothing changed, and re-reading the configured paths still finds the configured policy
    assert httpx.get(server.url + "/readyz").json()["policy_version"] == "uci-demo-2024.06"
    r = admin(server)
    assert r.status_code == 200 and r.json()["policy_version"] == "uci-demo-2024.06", r.text


def test_sighup_rereads_the_deployed_bundle(deployed, service_bundle, other_bundle, tmp_path):  # noqa: F811
    server, current = deployed
    v_a, v_b = load_bundle(service_bundle).model_version, load_bundle(other_bundle).model_version
    swap_dir(other_bundle, current)
    server.signal(signal.SIGHUP)
    wait_for_version(server, v_b)
    # a tampered deployment is refused on SIGHUP too; the good model keeps serving
    swap_dir(tamper(service_bundle, tmp_path / "bad"), current)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "reload on SIGHUP refused" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "reload on SIGHUP refused" in server.log() and "SHA-256" in server.log()
    assert httpx.get(server.url + "/readyz").json()["model_version"] == v_b
    swap_dir(service_bundle, current)
    server.signal(signal.SIGHUP)
    wait_for_version(server, v_a)


@pytest.mark.slow
def test_several_workers_roll_to_a_new_bundle(service_bundle, other_bundle, applicants, tmp_path):  # noqa: F811
    v_a, v_b = load_bundle(service_bundle).model_version, load_bundle(other_bundle).model_version
    server = ServiceProcess([str(service_bundle), "--workers", "2"], workdir=tmp_path).start(timeout=180)
    try:
        with Traffic(server, applicants) as traffic:
            bad = admin(server, model_dir=str(tamper(service_bundle, tmp_path / "bad")))
            assert bad.status_code == 422
            r = admin(server, model_dir=str(other_bundle))
            assert r.status_code == 200 and r.json()["status"] == "reloading", r.text
            deadline = time.monotonic() + 120
            versions: set[str] = set()
            polled = 0
            while time.monotonic() < deadline:  # both workers answer with the new model
                with server.client() as c:  # fresh connections, spread over the workers
                    versions = {c.post("/v1/decisions", json={"applicant": applicants[0]}).json()["model_version"]
                                for _ in range(10)}
                polled += 10
                if versions == {v_b}:
                    break
                time.sleep(0.5)
            assert versions == {v_b}, server.log()[-3000:]
        statuses = {r.status_code for r in traffic.responses}
        assert statuses == {200}, (statuses, traffic.errors)
        # A retiring worker finishes what it received and closes idle keep-alive connections; a request
        # racing that close can only fail at the connection level (retry it with an Idempotency-Key).
        assert all("Protocol" in e or "Connect" in e or "Read" in e for e in traffic.errors), traffic.errors
        assert len(traffic.errors) <= 0.01 * len(traffic.responses) + 2, traffic.errors
        assert {r.json()["model_version"] for r in traffic.responses} <= {v_a, v_b}
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
    conn = sqlite3.connect(tmp_path / "creditflow-audit.db")
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == len(traffic.responses) + polled
    conn.close()


def _admin(server: ServiceProcess, **body) -> httpx.Response:
    with server.client(ADMIN_KEY) as c:
        return c.post("/v1/admin/reload", json=body)


def test_a_refused_admin_reload_is_logged(service_bundle, tmp_path):  # noqa: F811
    server = ServiceProcess([str(service_bundle)], workdir=tmp_path).start()
    try:
        r = _admin(server, model_dir=str(tamper(service_bundle, tmp_path / "tampered")))
        assert r.status_code == 422, r.text
    finally:
        server.stop()
    lines = [line for line in server.log().splitlines() if "refused" in line]
    assert len(lines) == 1 and " ERROR " in lines[0] and "POST /v1/admin/reload" in lines[0], server.log()[-2000:]
    assert "model.json" in lines[0] and "SHA-256 does not match" in lines[0], lines


@pytest.mark.slow
def test_several_workers_refuse_a_bad_bundle_on_sighup_in_one_line(service_bundle, tmp_path):  # noqa: F811
    live = tmp_path / "live"
    shutil.copytree(service_bundle, live)
    version = load_bundle(service_bundle).model_version
    server = ServiceProcess([str(live), "--workers", "2"], workdir=tmp_path).start(timeout=180)
    try:
        swap_dir(tamper(service_bundle, tmp_path / "tampered"), live)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 90
        while "refused" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # whatever else the supervisor would log about it
        wait_for_version(server, version, timeout=10)  # the old workers keep serving
    finally:
        server.stop()
    log = server.log()
    refused = [line for line in log.splitlines() if "refused" in line]
    assert len(refused) == 1 and " ERROR " in refused[0] and "SIGHUP" in refused[0], log[-3000:]
    assert "model.json" in refused[0] and "SHA-256 does not match" in refused[0], refused
    assert "Traceback" not in log and "not ready in time" not in log, log[-3000:]


def test_a_key_removed_from_its_file_is_refused_after_sighup_or_reload(service_bundle, tmp_path):  # noqa: F811
    """Revoking a key: take its digest out of --api-keys-file and reload. The service used to keep the keys it
    started with until a restart (while several workers, restarted on SIGHUP, read the file again)."""
    keys = tmp_path / "keys.sha256"
    digest = hashlib.sha256(API_KEY_2.encode()).hexdigest()
    keys.write_text(f"{digest}  ops team\n")
    server = ServiceProcess([str(service_bundle), "--api-keys-file", str(keys)], workdir=tmp_path).start()

    def status(key: str) -> int:
        return httpx.get(server.url + "/v1/model", headers={"X-API-Key": key}, timeout=30).status_code

    try:
        assert (status(API_KEY), status(API_KEY_2)) == (200, 200)
        keys.write_text("# ops team's key revoked\n" + hashlib.sha256(b"another-key-for-the-ops-team-01").hexdigest() + "\n")
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while status(API_KEY_2) != 403 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (status(API_KEY_2), status("another-key-for-the-ops-team-01"), status(API_KEY)) == (403, 200, 200)
        assert "keys re-read: 2 API key(s) (were 2)" in server.log()
        # a keys file that cannot be read refuses the whole reload: the keys (and model) stay as they were
        keys.write_text("not a digest\n")
        r = admin(server)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["keys"], r.text
        assert "not a SHA-256 hex digest" in r.json()["detail"][0]["msg"]
        assert (status("another-key-for-the-ops-team-01"), status(API_KEY)) == (200, 200)
        keys.write_text(digest + "\n")
        assert admin(server).status_code == 200
        assert (status(API_KEY_2), status("another-key-for-the-ops-team-01")) == (200, 403)
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log and API_KEY_2 not in log and "another-key-for-the-ops-team-01" not in log
