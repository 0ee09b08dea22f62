"""Shared by the service, lead card and server tests: the test key and model name,
one trained and registered model per session, request payloads and the bad inputs
every way in must refuse, batch/service parity checks, and ``mqlscore build`` /
``mqlscore serve`` run as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.contract.schema import example_lead
from mqlscore.features import open_leads_at

KEY = "test-key-0123456789abcdefghijklmnop"
MODEL_NAME = "mql-svc"
REPO = Path(__file__).resolve().parents[1]


@contextmanager
def tracking_store(root: Path) -> Iterator[Path]:
    """MLflow pointed at a temporary SQLite store in ``root`` (its artifacts beside
    it, in the working directory) for the duration; the environment and the
    working directory are restored afterwards."""
    old_uri, cwd = os.environ.get("MLFLOW_TRACKING_URI"), Path.cwd()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(cwd)
        if old_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_uri


def quick_scorecard(dataset: Any, metadata: dict[str, Any] | None = None) -> Any:
    """A ``ScoringModel`` around a scorecard fitted and calibrated on the whole
    training set of ``dataset`` in a few seconds (the full training takes a minute),
    for tests about what surrounds a model rather than the model itself."""
    from mqlscore.config import ScoringConfig
    from mqlscore.features import build_training_set
    from mqlscore.models.calibration import PlattCalibrator
    from mqlscore.models.scorecard import Scorecard
    from mqlscore.scoring import ScoreScale, ScoringModel

    ts = build_training_set(dataset)
    card = Scorecard(specs=ts.builder.specs_).fit(ts.X, ts.y)
    calibrator = PlattCalibrator().fit(np.asarray(card.decision_function(ts.X), float), ts.y)
    return ScoringModel(builder=ts.builder, kind="scorecard", model=card, calibrator=calibrator,
                        scale=ScoreScale(float(ts.y.mean())), config=ScoringConfig(), threshold=0.2,
                        metadata=dict(metadata or {}))


def trained_store(tmp_path_factory: pytest.TempPathFactory, demo_export: Path) -> Path:
    """Train once per session into a temporary SQLite MLflow store (cached on disk):
    ``<dir>/mlflow.db`` holds ``models:/mql-svc@champion``, ``<dir>/scoring_model`` its copy."""
    # MQLSCORE_SERVICE_TEST_STORE keeps the trained store between runs while developing.
    root = Path(os.environ.get("MQLSCORE_SERVICE_TEST_STORE") or tmp_path_factory.getbasetemp() / "service-model")
    if (root / "done").is_file():
        return root
    from mqlscore.training import register, train

    root.mkdir(parents=True, exist_ok=True)
    with tracking_store(root):  # MLflow's artifacts land beside the store
        settings = Settings(train=TrainConfig(estimate_half_lives=False, model_name=MODEL_NAME))
        dataset = load_folder(demo_export)
        result = train(dataset, settings)
        register(result, dataset, settings)
        result.scoring_model.save(root / "scoring_model")
    (root / "done").write_text("ok")
    return root


def plain(value: Any) -> Any:
    """A table value as JSON would carry it (missing as None, times as ISO text)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def lead_payloads(dataset: Any, ids: Any) -> list[dict[str, Any]]:
    """Leads of a validated export as request JSON, each with its activities."""
    wanted = set(ids)
    leads = dataset.leads[dataset.leads["lead_id"].isin(wanted)]
    acts = dataset.activities[dataset.activities["lead_id"].isin(wanted)]
    by_lead = {k: g for k, g in acts.groupby("lead_id")}
    out = []
    for row in leads.to_dict("records"):
        item = {k: plain(v) for k, v in row.items()}
        group = by_lead.get(row["lead_id"])
        item["activities"] = [] if group is None else [
            {"occurred_at": t.isoformat(), "activity_type": a, "detail": plain(d)}
            for t, a, d in zip(group["occurred_at"], group["activity_type"], group["detail"])]
        out.append(item)
    return out


def parity_case(dataset: Any, n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``n`` leads open at the export's as-of time, and a request holding them with
    every lead of their accounts (the buying groups batch scoring sees)."""
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of).sample(n, random_state=seed)
    accounts = dataset.leads.loc[dataset.leads["lead_id"].isin(rows["lead_id"]), "account_id"].dropna().unique()
    ids = set(rows["lead_id"]) | set(dataset.leads.loc[dataset.leads["account_id"].isin(accounts), "lead_id"])
    return rows.reset_index(drop=True), lead_payloads(dataset, ids)


def assert_same_scores(service_scores: list[dict[str, Any]], batch: pd.DataFrame) -> None:
    """Service output equals batch scoring to float tolerance, reasons included."""
    by_id = {s["lead_id"]: s for s in service_scores}
    assert set(batch["lead_id"]) <= set(by_id)
    for row in batch.to_dict("records"):
        got = by_id[row["lead_id"]]
        for col in ("probability", "score", "base_points", "fit_points", "intent_points"):
            assert got[col] == pytest.approx(row[col], rel=1e-12, abs=1e-12), (row["lead_id"], col)
        assert got["tier"] == row["tier"] and got["is_mql"] == bool(row["is_mql"])
        assert [(r["signal"], r["text"], r["points"], r["sign"]) for r in got["reasons"]] == \
            [(r["signal"], r["text"], r["points"], r["sign"]) for r in row["reasons"]]
        assert got["model_name"] == row["model_name"] and got["model_version"] == row["model_version"]


AUTH = {"Authorization": f"Bearer {KEY}"}


def lead(**changes: Any) -> dict[str, Any]:
    """The example lead with some fields changed."""
    lead = example_lead()
    lead.update(changes)
    return lead


def many_leads(n: int) -> list[dict[str, Any]]:
    """``n`` minimal leads."""
    return [{"lead_id": f"L{i}", "created_at": "2026-01-01T00:00:00Z"} for i in range(n)]


BAD_INPUTS = [
    # (name, body, status, field)
    ("malformed JSON", b'{"leads": [', 400, "body"),
    ("not an object", b"[1, 2]", 400, "body"),
    ("empty list", {"leads": []}, 400, "leads"),
    ("no leads key", {"lead": [lead()]}, 400, "leads"),
    ("unknown top-level key", {"leads": [lead()], "asof": "2026-01-01"}, 400, "asof"),
    ("missing lead_id", {"leads": [lead(), {"created_at": "2026-01-01T00:00:00Z"}]}, 400, "leads[1].lead_id"),
    ("missing created_at", {"leads": [{"lead_id": "L1"}]}, 400, "leads[0].created_at"),
    ("wrong type: count", {"leads": [lead(employee_count="many")]}, 400, "leads[0].employee_count"),
    ("wrong type: activities", {"leads": [lead(activities={"a": 1})]}, 400, "leads[0].activities"),
    ("wrong type: activity", {"leads": [lead(activities=[{"occurred_at": 5, "activity_type": "page_view"}])]},
     400, "leads[0].activities[0].occurred_at"),
    ("wrong type: reasons", {"leads": [lead()], "reasons": "please"}, 400, "reasons"),
    ("empty lead_id", {"leads": [lead(lead_id="  ")]}, 422, "leads[0].lead_id"),
    ("duplicate lead_id", {"leads": [lead(), lead()]}, 422, "leads[1].lead_id"),
    ("unparsable created_at", {"leads": [lead(created_at="05/01/2026")]}, 422, "leads[0].created_at"),
    ("unparsable occurred_at", {"leads": [lead(activities=[
        {"occurred_at": "2026-01-02T00:00:00Z", "activity_type": "page_view"},
        {"occurred_at": "2026-01-02", "activity_type": "page_view"},
        {"occurred_at": "last tuesday", "activity_type": "demo_request"}])]},
     422, "leads[0].activities[2].occurred_at"),
    ("only lead created after as_of", {"leads": [lead(activities=[])], "as_of": "2026-01-01T00:00:00Z"}, 422,
     "leads"),
    ("unparsable as_of", {"leads": [lead()], "as_of": "soon"}, 422, "as_of"),
    ("as_of out of range", {"leads": [lead()], "as_of": "2500-01-01T00:00:00Z"}, 422, "as_of"),
    ("activity out of range", {"leads": [lead(activities=[
        {"occurred_at": "0001-01-01T00:00:00Z", "activity_type": "page_view"}])]},
     422, "leads[0].activities[0].occurred_at"),
    ("created_at out of range", {"leads": [lead(created_at="1600-01-01", activities=[])]}, 422,
     "leads[0].created_at"),
    ("empty activity_type", {"leads": [lead(activities=[{"occurred_at": "2026-01-02T00:00:00Z",
                                                          "activity_type": ""}])]},
     422, "leads[0].activities[0].activity_type"),
    ("negative count", {"leads": [lead(bed_count=-3)]}, 422, "leads[0].bed_count"),
    ("fractional count", {"leads": [lead(employee_count=10.5)]}, 422, "leads[0].employee_count"),
    ("nested extra field", {"leads": [lead(crm={"owner": "x"})]}, 422, "leads[0].crm"),
    ("too many leads", {"leads": many_leads(2_001)}, 422, "leads"),
    ("too many activities", {"leads": [lead(activities=[
        {"occurred_at": "2026-01-02T00:00:00Z", "activity_type": "email_open"}] * 1_001)]},
     422, "leads[0].activities"),
    # reasons is a strict boolean; ids are never empty (issue 11, 12)
    ("reasons as a word", {"leads": [lead()], "reasons": "yes"}, 400, "reasons"),
    ("reasons as a number", {"leads": [lead()], "reasons": 0}, 400, "reasons"),
    ("empty lead_id text", {"leads": [lead(lead_id="")]}, 400, "leads[0].lead_id"),
    # fields outside the contract are bounded (issue 11, defect 1: the service's default limits)
    ("too many extra fields on a lead", {"leads": [lead(**{f"crm_field_{k}": k for k in range(51)})]}, 422,
     "leads[0]"),
    ("too many extra fields on an activity", {"leads": [lead(activities=[
        {"occurred_at": "2026-01-02T00:00:00Z", "activity_type": "page_view",
         **{f"utm_{k}": "x" for k in range(51)}}])]},
     422, "leads[0].activities[0]"),
    ("too many distinct extra fields in a request", {"leads": [
        lead(lead_id=f"L{i}", **{f"crm_{i}_{k}": k for k in range(41)}) for i in range(5)]}, 422, "leads[4].crm_4_36"),
    ("extra field name too long", {"leads": [lead(**{"x" * 65: 1})]}, 422, 'leads[0]["' + "x" * 40 + '\u2026"]'),
    ("text too long", {"leads": [lead(job_title="Director " * 223)]}, 422, "leads[0].job_title"),
    ("text too long in an extra field", {"leads": [lead(notes="n" * 2_001)]}, 422, "leads[0].notes"),
    ("text too long in an activity", {"leads": [lead(activities=[
        {"occurred_at": "2026-01-02T00:00:00Z", "activity_type": "page_view", "detail": "/" + "p" * 2_000}])]},
     422, "leads[0].activities[0].detail"),
    # field names are echoed escaped and cut, never as markup (issue 11, defect 11)
    ("markup as a top-level key", {"leads": [lead()], "<img src=x onerror=alert(1)>": 1}, 400,
     '"\\u003cimg src=x onerror=alert(1)\\u003e"'),
    ("markup as a nested extra field", {"leads": [lead(**{"<img src=x onerror=alert(1)>": {"a": 1}})]}, 422,
     'leads[0]["\\u003cimg src=x onerror=alert(1)\\u003e"]'),
]


# Scored, with a warning naming the field: what is dated after as_of has not happened
# yet when the lead is scored (the one rule of the contract, batch and MLflow model too).
WARNED_INPUTS = [
    # (name, body, field)
    ("activity after as_of", {"leads": [lead()], "as_of": "2026-01-21T00:00:00Z"},
     "leads[0].activities[2].occurred_at"),
    ("activity in the future of now", {"leads": [lead(activities=[
        {"occurred_at": "2150-01-01T00:00:00Z", "activity_type": "demo_request"}])]},
     "leads[0].activities[0].occurred_at"),
    ("one of two leads created after as_of", {"leads": [lead(), lead(lead_id="L-LATER", created_at="2026-03-01")],
                                              "as_of": "2026-02-01T00:00:00Z"}, "leads[1].created_at"),
    ("unknown org_type", {"leads": [lead(org_type="space_agency")], "as_of": "2026-02-01T00:00:00Z"},
     "leads[0].org_type"),
]


def load_service(store: Path, limits: Any) -> Iterator[Any]:
    """``bento/service.py`` imported with the trained model in the BentoML store (``BENTOML_HOME``
    must be a temporary folder, set before bentoml is imported), the service settings
    ``limits`` built into it and the test key set; everything undone when the generator
    is closed."""
    import importlib.util

    import bentoml

    from mqlscore.scoring import ScoringModel
    from mqlscore.serving import auth, engine, startup

    with bentoml.models.create("mqlscore-service", labels={"registered_version": "1"}) as stored:
        model = ScoringModel.load(store / "scoring_model")
        model.metadata.update(model_name=MODEL_NAME, model_version="1")
        model.save(Path(stored.path) / engine.SCORING_MODEL_DIR)
        (Path(stored.path) / engine.SERVICE_CONFIG_FILE).write_text(limits.model_dump_json())
    env = {auth.API_KEY_ENV: KEY, startup.MODEL_TAG_ENV: str(stored.tag)}
    old = {k: os.environ.get(k) for k in (*env, auth.DEV_ENV)}
    os.environ.update(env)
    os.environ.pop(auth.DEV_ENV, None)
    try:
        spec = importlib.util.spec_from_file_location("mqlscore_bento_service", REPO / "bento" / "service.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        startup.forget_engines()


def forget_bentoml_metrics() -> None:
    """Let another BentoML app serve in this process: BentoML registers its request metrics
    (``bentoml_service_*``) in prometheus_client's process-wide registry when an app serves its
    first request, and a second app (another test module's) would fail registering them again
    (``DuplicateTimeseries``). prometheus_client has no public way to list what is registered."""
    import prometheus_client

    registry = prometheus_client.REGISTRY
    for name, collector in list(registry._names_to_collectors.items()):  # noqa: SLF001 - see above
        if name.startswith("bentoml_service_"):
            try:
                registry.unregister(collector)
            except KeyError:  # one collector has several names
                pass


BIN = Path(sys.executable).parent
# Anything that tries the network during the build fails fast instead of hanging.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": "127.0.0.1,localhost", "UV_OFFLINE": "1", "PIP_NO_INDEX": "1"}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path, store: Path) -> dict[str, str]:
    """The server's environment: BentoML and MLflow in temporary folders, nothing inherited from MQLSCORE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQLSCORE_", "BENTOML_"))}
    env.update({"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
                "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "PYTHONUNBUFFERED": "1"})
    return env


def build(store: Path, home: Path, config: Path, model_name: str) -> dict[str, Any]:
    """``mqlscore build`` against the registry in ``store``, with the network cut off."""
    config.write_text(f"train:\n  model_name: {model_name}\nservice:\n  max_leads_per_request: 2000\n")
    env = {**base_env(home, store), **OFFLINE}
    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "mqlscore"), "build", "--config", str(config)], env=env, cwd=config.parent,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"home": home, "env": base_env(home, store), "seconds": time.perf_counter() - t0,
            "output": done.stdout + done.stderr}


def serve(built: dict[str, Any], key: str, extra_args: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """``mqlscore serve`` (which becomes ``bentoml serve``) on a free port until the generator is closed."""
    import httpx
    import pytest

    port = free_port()
    env = {**built["env"], "MQLSCORE_API_KEY": key}
    log = built["home"] / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "mqlscore"), "serve", "--port", str(port), "--workers", "1",
                                 *extra_args], env=env, cwd=built["home"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server not ready after 90 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
    try:
        yield {"url": url, "log": log, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# A throwaway PostgreSQL cluster on 127.0.0.1 for the database tests.
# ---------------------------------------------------------------------------

PG_START_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why (with the end of the server's log)."""


def _postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH first, then Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest version first)."""
    import shutil

    candidates = [Path(found).parent for found in (shutil.which("initdb"), shutil.which("pg_ctl")) if found]

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in folder.parent.name.split(".") if p.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return folder
    raise PostgresUnavailable("no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin "
                              "(Debian: apt-get install postgresql)")


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 and a free port, yield its URL
    (``postgresql://postgres@127.0.0.1:PORT/postgres``, trust authentication), then stop it
    and delete its files. Raises ``PostgresUnavailable`` with the reason when the binaries
    are missing or the server does not start.

    initdb refuses to run as root, so as root the cluster lives in a temporary folder owned
    by the ``postgres`` user and initdb/pg_ctl run as that user."""
    import pwd
    import shutil
    import tempfile

    import psycopg

    bin_dir = _postgres_bin_dir()
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run initdb as") from None
        # Drop root's supplementary groups too, not only its uid and gid.
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    # A short path: the Unix socket (DIR/.s.PGSQL.PORT) must fit in about 100 bytes.
    root = Path(tempfile.mkdtemp(prefix="mqpg-", dir="/tmp" if run_as else None))
    data, log = root / "data", root / "log"
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    if run_as:
        os.chown(root, run_as["user"], run_as["group"])
        env.update(HOME=str(root), USER="postgres", LOGNAME="postgres")

    def pg(*args: str, timeout: float = PG_START_SECONDS + 30) -> subprocess.CompletedProcess[str]:
        # cwd inside the cluster's folder: the postgres user may not be allowed into ours.
        return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=root, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False, **run_as)

    def stop() -> None:
        if not (data / "postmaster.pid").exists():
            return
        if pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", timeout=60).returncode != 0:
            pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)

    try:
        done = pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
        for attempt in range(3):
            # The free port can be taken by another process before the server binds it: try another.
            port = free_port()
            log.unlink(missing_ok=True)
            options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on"
            done = pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", str(PG_START_SECONDS),
                      "start")
            if done.returncode == 0 or "could not bind" not in _tail(log) or attempt == 2:
                break
        if done.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl start failed ({done.returncode}): {(done.stdout + done.stderr)[-500:]}"
                                      f"\nserver log:\n{_tail(log)}")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline, error = time.monotonic() + PG_START_SECONDS, None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError as exc:
                error = exc
                time.sleep(0.2)
        else:
            raise PostgresUnavailable(f"no connection to {url} within {PG_START_SECONDS} s ({error})"
                                      f"\nserver log:\n{_tail(log)}")
        yield url
    finally:
        try:
            stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str) -> str:
    """Create a new, uniquely named, empty database on the server at ``url`` and return
    its URL (same server and user), so tests sharing one server stay isolated."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    name = f"test_{uuid.uuid4().hex[:16]}"
    # CREATE DATABASE cannot run inside a transaction.
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recent_slice(export: Path, n_leads: int) -> Any:
    """The export's ``n_leads`` most recently created leads with their accounts' other
    leads, and all their activities and outcomes, as a validated ``Dataset``."""
    from dataclasses import replace

    data = load_folder(export)
    recent = data.leads.nlargest(n_leads, "created_at")
    accounts = set(recent["account_id"].dropna())
    keep = data.leads["lead_id"].isin(recent["lead_id"]) | data.leads["account_id"].isin(accounts)
    ids = set(data.leads.loc[keep, "lead_id"])
    return replace(data, leads=data.leads[keep].reset_index(drop=True),
                   activities=data.activities[data.activities["lead_id"].isin(ids)].reset_index(drop=True),
                   outcomes=data.outcomes[data.outcomes["lead_id"].isin(ids)].reset_index(drop=True))


def event_batches(n_batches: int, size: int, account: str = "ACC-SHARED", prefix: str = "w") -> list[list[dict]]:
    """Deterministic batches of lead and activity events, all for leads of one account
    (``prefix`` keeps two writers' event and lead ids apart)."""
    rng = np.random.default_rng(abs(hash(prefix)) % 2**32)
    kinds = ("page_view", "email_open", "webinar_attended", "demo_request", "content_download")
    batches, lead_no = [], 0
    for b in range(n_batches):
        batch = []
        for k in range(size):
            if k % 5 == 0:
                lead_no += 1
                batch.append({"event_id": f"{prefix}-lead-{lead_no}", "kind": "lead", "lead_id": f"{prefix}-L{lead_no}",
                              "created_at": "2026-08-01T00:00:00Z", "account_id": account, "org_type": "health_system",
                              "job_title": "CISO"})
            else:
                batch.append({"event_id": f"{prefix}-{b}-{k}", "kind": "activity",
                              "lead_id": f"{prefix}-L{max(1, lead_no - int(rng.integers(0, 3)))}",
                              "occurred_at": f"2026-09-{1 + k % 28:02d}T{k % 24:02d}:00:00Z",
                              "activity_type": kinds[int(rng.integers(0, len(kinds)))], "detail": "/pricing"})
        batches.append(batch)
    return batches


# ---------------------------------------------------------------------------
# A real `mlflow server` on 127.0.0.1, its backend store in PostgreSQL, for the
# shared-MLflow tests (docs/shared-mlflow.md).
# ---------------------------------------------------------------------------

MLFLOW_START_SECONDS = 180  # creating the schema in a fresh database takes ~25 s on 2 loaded cores


class MlflowServerUnavailable(RuntimeError):
    """``mlflow server`` did not start; the message says why (with the end of its log)."""


def sqlalchemy_postgres_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy names it with the psycopg 3 driver (``postgresql+psycopg://...``):
    SQLAlchemy's bare ``postgresql://`` means psycopg2, which is not installed."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme in ("postgresql", "postgres") else url


@contextmanager
def mlflow_server(database_url: str, root: Path) -> Iterator[dict[str, Any]]:
    """Run ``mlflow server`` on 127.0.0.1 and a free port until the block ends: backend and
    registry store in the PostgreSQL database ``database_url`` (use ``fresh_database``),
    artifacts in ``root/artifacts``, served through the server (``--artifacts-destination``:
    clients need only HTTP). Yields ``{"url", "database", "artifacts", "log", "proc"}``; the
    server (a process group of its own) is stopped afterwards. Raises
    ``MlflowServerUnavailable`` when it exits early or is not healthy in time."""
    import httpx

    root.mkdir(parents=True, exist_ok=True)
    artifacts, log = root / "artifacts", root / "mlflow-server.log"
    artifacts.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MQLSCORE_"))}
    # No background job runner (the server would start Huey workers otherwise), no telemetry.
    env.update({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"})
    proc, url = None, ""
    try:
        for attempt in range(3):
            port = free_port()
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    [str(BIN / "mlflow"), "server", "--backend-store-uri", sqlalchemy_postgres_url(database_url),
                     "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1"],
                    env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + MLFLOW_START_SECONDS
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            if proc.poll() is None and time.monotonic() < deadline:
                break
            # The free port may have been taken before the server bound it: try another one.
            if proc.poll() is not None and "address already in use" in _tail(log).lower() and attempt < 2:
                continue
            reason = (f"exited with {proc.returncode}" if proc.poll() is not None
                      else f"not healthy after {MLFLOW_START_SECONDS} s")
            raise MlflowServerUnavailable(f"mlflow server {reason}; its log:\n{_tail(log)}")
        yield {"url": url, "database": database_url, "artifacts": artifacts, "log": log, "proc": proc}
    finally:
        if proc is not None and proc.poll() is None:
            # uvicorn's worker runs in the server's process group: stop the whole group
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def mqlscore_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """Run ``mqlscore ARGS`` as a process with exactly ``env``; assert it succeeds, return its output."""
    done = subprocess.run([str(BIN / "mqlscore"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"mqlscore {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def cannot_start(part: str, reason: object, require_env: str) -> None:
    """A part a test needs cannot start here: skip, saying why, or fail when
    ``require_env`` is "1" (``make test`` sets it where the part is installed)."""
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{part} cannot start here ({require_env}=1): {reason}", pytrace=False)
    pytest.skip(f"{part} cannot start here: {reason}")


# -- the lead card in a real browser ----------------------------------------------------------
CHROMIUM = Path(os.environ.get("MQLSCORE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> None:
    """Debian's Chromium and Playwright are here, or the test skips, saying why (fails
    where ``make test`` set ``MQLSCORE_REQUIRE_BROWSER=1``)."""
    if not CHROMIUM.is_file():
        cannot_start("Chromium", f"no Chromium at {CHROMIUM} (run 'make browser')", "MQLSCORE_REQUIRE_BROWSER")
    try:
        import playwright.sync_api  # noqa: F401 - is it installed?
    except ImportError:
        cannot_start("Chromium", "the playwright package is not installed (uv sync installs the dev group)",
                     "MQLSCORE_REQUIRE_BROWSER")


@contextmanager
def chromium_context(profile: Path, timeout_ms: int) -> Iterator[Any]:
    """Headless Chromium with a fresh profile in ``profile`` (no cookies: signed out),
    1440x1000, English, UTC; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000}, device_scale_factor=1, locale="en-US", timezone_id="UTC")
        context.set_default_timeout(timeout_ms)
        try:
            yield context
        finally:
            context.close()


def page_number(n: float) -> str:
    """A number as the lead card writes it (one decimal, a real minus sign)."""
    text = f"{abs(n):.1f}"
    return ("\u2212" if n < 0 and float(text) != 0 else "") + text


def page_signed(n: float) -> str:
    """Points as the lead card writes them (a sign unless zero)."""
    text = f"{abs(n):.1f}"
    return text if float(text) == 0 else ("\u2212" if n < 0 else "+") + text
