"""Shared fixtures: a real tiny bundle trained on generated sentences (session scope), app and CLI."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# prometheus_client chooses how it keeps values when it is first imported: in files of PROMETHEUS_MULTIPROC_DIR when
# that is set. An in-process `moderate serve` test sets it (service.server.prepare_metrics_dir) and unsets it when
# serve stops before gunicorn runs; had that been the process's first import, every later metric would look for a
# folder that is gone (TypeError). Imported here first, with it unset, as every in-process app test expects.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
import prometheus_client  # noqa: E402,F401

from tests.corpus import make_claim_sentences, make_corpus, make_spans


TEST_IDENTITY_SENTENCES = 500
"""Written identity sentences a training in this process adds to its rows (10,000 in a real training)."""


@pytest.fixture(scope="session", autouse=True)
def fewer_identity_sentences():
    """Trainings on the fake data directories add the written identity sentences and their swaps like real ones, the
    same code, but 500 of them instead of 10,000: about 3 s less per training, of which the suite runs dozens.
    Trainings in a child process keep the real number (``moderate`` run as a command), except in the kernels of the
    training notebooks, which ``tests.test_notebooks.training_kernel_env`` gives the same 500."""
    from model.training import added_sets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(added_sets, "N_IDENTITY_SENTENCES", TEST_IDENTITY_SENTENCES)
        yield


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory):
    """A bundle fitted on the generated corpus with a fixed seed: small, fast, no network, no real data."""
    from model.training.train import train_from_frame

    frame = make_corpus()
    validation = make_corpus(120, seed=1)
    validation = {"tiny_val": validation.assign(label=validation["toxicity"])[["text", "label"]]}
    claims = make_claim_sentences(seed=0, n=40)
    held_out = make_claim_sentences(seed=1, n=10)
    claims_validation = {"tiny_claims": held_out.assign(label=(held_out["checkable"] == 1) & (held_out["supported"] == 0))[["text", "label"]]}
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    return train_from_frame(frame, out, seed=0, validation=validation, claims_training=claims, claims_validation=claims_validation, span_training=make_spans(make_corpus(90, seed=2)), span_validation=make_spans(make_corpus(60, seed=3)), holdout_fraction=0.2, n_jobs=1)


@pytest.fixture(scope="session")
def scorer(tiny_bundle_path):
    """A Scorer on the tiny bundle."""
    from model.scoring import Scorer

    return Scorer.load(tiny_bundle_path)


# The service: app, clients, keys and databases

PG_URL_ENV = "MODERATION_TEST_PG_URL"
"""A PostgreSQL database the storage tests may empty and use (``.ci/run`` starts one and sets it)."""
REDIS_URL_ENV = "MODERATION_TEST_REDIS_URL"
"""A Redis server the several-instances tests may empty and use (``.ci/run`` starts one and sets it)."""
XDIST_WORKER_ENV = "PYTEST_XDIST_WORKER"
"""``gw0``, ``gw1``, ... in a pytest-xdist worker (``make test`` runs the suite in several); unset in a plain run."""


def _worker_number() -> int | None:
    worker = os.environ.get(XDIST_WORKER_ENV)
    return int(worker.removeprefix("gw")) if worker else None


@functools.cache
def postgres_test_url() -> str | None:
    """``$MODERATION_TEST_PG_URL``, in a schema of its own per pytest-xdist worker (made at the first call of the
    process when missing), so that two workers never empty each other's tables; ``None`` when the variable is unset."""
    url = os.environ.get(PG_URL_ENV)
    number = _worker_number()
    if not url or number is None:
        return url
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from service.store import make_engine

    schema = f"test_worker_{number}"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    finally:
        engine.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def redis_test_url() -> str | None:
    """``$MODERATION_TEST_REDIS_URL`` with a database number of its own per pytest-xdist worker (Redis has 16), so that
    a worker's ``FLUSHDB`` leaves the others' counts alone; ``None`` when the variable is unset."""
    url = os.environ.get(REDIS_URL_ENV)
    number = _worker_number()
    if not url or number is None:
        return url
    if number >= 15:
        raise RuntimeError(f"{XDIST_WORKER_ENV}=gw{number}: Redis has databases 0-15 only, run at most 15 test workers")
    base, _, _ = url.rpartition("/")
    return f"{base}/{number + 1}"


@pytest.fixture(scope="session", autouse=True)
def _isolated_service_settings(tmp_path_factory):
    """No test reads the developer's MODERATION_CONFIG or writes their database (var/moderation.db or $MODERATION_DB_URL)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MODERATION_CONFIG", raising=False)
        patch.setenv("MODERATION_DB_URL", f"sqlite:///{tmp_path_factory.mktemp('db') / 'session.db'}")
        patch.setenv("MODERATION_SECRET_KEY_FILE", str(tmp_path_factory.mktemp("secret") / "secret_key"))
        yield


@pytest.fixture
def app(tiny_bundle_path):
    """The service on the tiny bundle with a fresh in-memory SQLite database; API keys required."""
    from service.app import create_app

    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def api_key(app) -> str:
    """A valid API key stored in ``app``'s database."""
    from service.auth import create_key
    from service.store import get_session

    with app.app_context():
        return create_key(get_session(), "test")[1]


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    """Request headers carrying ``api_key``."""
    return {"Authorization": f"Bearer {api_key}"}


def empty_postgres(url: str) -> None:
    """Drop the service's tables (and Alembic's) from a PostgreSQL test database."""
    from sqlalchemy import text

    from service.store import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS feedback, decisions, api_keys, users, alembic_version CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database: a SQLite file, then the PostgreSQL of ``$MODERATION_TEST_PG_URL`` (skipped when unset)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'moderation.db'}"
    url = postgres_test_url()
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL server to test against (.ci/run starts one)")
    empty_postgres(url)
    return url


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory):
    """Every public data file, laid out as the real data directory, with generated rows (tests/fake_data.py)."""
    from tests.fake_data import write_data_dir

    return write_data_dir(tmp_path_factory.mktemp("fake") / "data")


@pytest.fixture(scope="session")
def site_csv(tmp_path_factory):
    """A made-up site's labelled comments (text, decision): it rejects calling people shills."""
    from tests.fake_data import make_site

    path = tmp_path_factory.mktemp("site") / "site.csv"
    make_site(120, seed=0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def versioned_bundles(fake_data_dir, site_csv, tmp_path_factory):
    """A bundles folder with ``public`` (public data only, CURRENT) and ``site`` (plus the site's comments)."""
    from model.training.train import train_bundle

    root = tmp_path_factory.mktemp("bundles")
    train_bundle(fake_data_dir, root / "public", seed=0, progress=False, version="public")
    train_bundle(fake_data_dir, root / "site", seed=0, progress=False, version="site", site_data=site_csv)
    (root / "CURRENT").write_text("public\n", encoding="utf-8")
    return root


# A real `moderate serve` process (test_server, test_server_reload, test_discovery)

SERVER_STARTUP_SECONDS = 60
SERVER_STOP_SECONDS = 30
REPO = Path(__file__).resolve().parents[1]


@dataclass
class ServerProcess:
    """A ``moderate serve`` subprocess on a free loopback port: its process, base URL and log file."""

    process: subprocess.Popen
    base: str
    log_path: Path
    health_base: str = ""
    """The master's health port (``HEALTH_PORT``), empty when the caller turned it off."""

    def log_tail(self, n_chars: int = 3_000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def wait_until_up(self) -> None:
        """Poll ``/healthz`` until it answers; fail the test with the log if the server exits or stays down."""
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=5):
                    return
            except OSError:  # refused, reset, or no answer within 5 s while the workers load (URLError is an OSError)
                if time.monotonic() > deadline:
                    pytest.fail(f"server not up after {SERVER_STARTUP_SECONDS}s:\n{self.log_tail()}")
                time.sleep(0.2)

    def wait_for_workers(self, count: int) -> None:
        """Poll the health port until ``count`` workers have built the app (``wait_until_up`` needs only one)."""
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        live = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.health_base}/healthz", timeout=5) as answer:
                    live = json.load(answer)["workers"]
            except urllib.error.HTTPError as error:  # 503 while no worker is live
                live = json.load(error)["workers"]
            except OSError:
                pass
            if live == count:
                return
            time.sleep(0.2)
        pytest.fail(f"{live} of {count} workers live after {SERVER_STARTUP_SECONDS}s:\n{self.log_tail()}")

    def stop(self) -> int:
        """SIGTERM, as an operator would, and return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=SERVER_STOP_SECONDS)


@contextmanager
def running_server(serve_args: list[str], env: dict[str, str], log_path: Path, prefix: tuple[str, ...] = ()) -> Iterator[ServerProcess]:
    """Run ``[*prefix] moderate serve --port PORT *serve_args`` until the block ends, then require a clean SIGTERM exit."""
    from service.loadtest import free_port, moderate_command

    port = free_port()
    # A free port for the health listener too: its default, PORT + 1, may be taken on a busy test machine.
    env = {"MODERATION_HEALTH_PORT": str(next(other for other in iter(free_port, None) if other != port)), **env}
    health_port = int(env["MODERATION_HEALTH_PORT"])
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*prefix, *moderate_command(), "serve", "--port", str(port), *serve_args], cwd=REPO, env=env, stdout=log, stderr=log)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path, f"http://127.0.0.1:{health_port}" if health_port else "")
    try:
        server.wait_until_up()
        yield server
        assert server.stop() == 0, server.log_tail()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def serve():
    """``running_server``: ``with serve(["--workers", "2"], env, log_path) as server: ... server.base``."""
    return running_server


# The moderation page (tests/test_ui.py and its follow-ups)


@pytest.fixture
def ui_app(tiny_bundle_path, tmp_path):
    """The service with comment texts stored, a moderator ``mo`` and an admin ``ad``."""
    from service.app import create_app
    from tests.ui_support import add_user

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "STORE_TEXT": True, "REPORTS_DIR": str(tmp_path / "reports")})
    add_user(app, "mo")
    add_user(app, "ad", role="admin")
    return app


@pytest.fixture
def moderator(ui_app):
    """A test client signed in as the moderator."""
    from tests.ui_support import sign_in

    client = ui_app.test_client()
    assert sign_in(client, "mo").status_code == 302
    return client


@pytest.fixture
def admin(ui_app):
    """A test client signed in as the admin."""
    from tests.ui_support import sign_in

    client = ui_app.test_client()
    assert sign_in(client, "ad").status_code == 302
    return client
