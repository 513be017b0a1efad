"""The metric files of exited gunicorn workers are folded into sums: the folder stays bounded, and every count is
kept, never lost nor counted twice, even by a scrape running while the master folds."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest
from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict

from service.metrics import Metrics, files_locked, fold_exited_files
from service.server import METRICS_DIR_ENV, ModerationServer, _child_exit, master_metrics
from tests.test_metrics import sample

LIVE_PID = 90_001
"""Made-up pids: prometheus_client only uses them in file names here."""
EXITED_PIDS = tuple(range(90_101, 90_121))
REQUESTS = 'moderation_http_requests_total{endpoint="/v1/moderate",method="POST",status="200"}'
LATENCY_COUNT = 'moderation_http_request_duration_seconds_count{endpoint="/v1/moderate"}'
FAST_BUCKET = 'moderation_http_request_duration_seconds_bucket{endpoint="/v1/moderate",le="0.005"}'
SLOW_BUCKET = 'moderation_http_request_duration_seconds_bucket{endpoint="/v1/moderate",le="0.5"}'
UNFOLDED_FOLD_SECONDS = 0.5
"""How long the scrape below waits for a fold that nothing would stop: far more than folding two small files takes."""
PATIENT_SECONDS = 60.0


@pytest.fixture
def metrics_dir(tmp_path, monkeypatch):
    """A metrics folder as ``moderate serve`` sets one up; prometheus_client's value class is restored after the test."""
    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    return tmp_path


@pytest.fixture
def master():
    """The gunicorn master's side of ``moderate serve``, without gunicorn."""
    app = ModerationServer({}, {})
    yield SimpleNamespace(app=app, WORKERS={})
    app.ready.remove()


def worker(pid: int, n_requests: int) -> Metrics:
    """The metrics of worker ``pid`` after ``n_requests`` answers (one fast, the rest slower), in its files."""
    values.ValueClass = values.MultiProcessValue(lambda: pid)
    metrics = Metrics("1.0")
    metrics.mark_model()
    for n in range(n_requests):
        metrics.requests.labels(endpoint="/v1/moderate", method="POST", status="200").inc()
        metrics.latency.labels(endpoint="/v1/moderate").observe(0.004 if n == 0 else 0.2)
    return metrics


def exit_worker(pid: int, n_requests: int) -> None:
    """A worker that answered ``n_requests`` and exited (its files closed, as at the end of a process)."""
    worker(pid, n_requests)
    values.ValueClass.close_all_files()


def scrape(live: Metrics) -> str:
    """``/metrics`` as the live worker answers it."""
    return live.exposition().decode()


def test_exited_workers_leave_two_files_in_all_and_every_count(metrics_dir, master):
    live = worker(LIVE_PID, 1)
    live_files = len(list(metrics_dir.glob("*.db")))
    for n_exited, pid in enumerate(EXITED_PIDS, start=1):
        exit_worker(pid, 2)
        _child_exit(master, SimpleNamespace(pid=pid))
        text = scrape(live)
        assert sample(text, REQUESTS) == 1 + 2 * n_exited  # never lower than the scrape before
        assert sample(text, LATENCY_COUNT) == 1 + 2 * n_exited
        assert (sample(text, FAST_BUCKET), sample(text, SLOW_BUCKET)) == (1 + n_exited, 1 + 2 * n_exited)
        assert sample(text, 'moderation_model_info{model_version="1.0"}') == 1
        assert len(list(metrics_dir.glob("*.db"))) <= live_files + 2, sorted(path.name for path in metrics_dir.iterdir())
    assert master.app.unfolded_pids == set()


def test_a_scrape_while_the_master_folds_counts_each_exited_worker_once(metrics_dir, monkeypatch):
    live = worker(LIVE_PID, 1)
    exit_worker(EXITED_PIDS[0], 2)
    exit_worker(EXITED_PIDS[1], 2)
    assert fold_exited_files(str(metrics_dir), {EXITED_PIDS[0]}) == set()
    read = MmapedDict.read_all_values_from_file
    folds: list[threading.Thread] = []
    left: list[set[int]] = []

    def read_while_the_master_folds(path: str):
        if not folds:  # the scrape has listed the files: the master folds the second worker meanwhile
            folds.append(threading.Thread(target=lambda: left.append(fold_exited_files(str(metrics_dir), {EXITED_PIDS[1]}, PATIENT_SECONDS))))
            folds[0].start()
            folds[0].join(UNFOLDED_FOLD_SECONDS)
        return read(path)

    monkeypatch.setattr(MmapedDict, "read_all_values_from_file", staticmethod(read_while_the_master_folds))
    during = scrape(live)
    folds[0].join(PATIENT_SECONDS)
    assert left == [set()]
    assert not (metrics_dir / f"counter_{EXITED_PIDS[1]}.db").exists()
    assert sample(during, REQUESTS) == sample(scrape(live), REQUESTS) == 5


def test_a_fold_that_scrapes_hold_up_is_made_at_the_next_exit(metrics_dir, master, monkeypatch):
    monkeypatch.setattr("service.metrics.FOLD_LOCK_SECONDS", 0.05)
    live = worker(LIVE_PID, 1)
    exit_worker(EXITED_PIDS[0], 2)
    with files_locked(str(metrics_dir)):  # a scrape that does not end
        _child_exit(master, SimpleNamespace(pid=EXITED_PIDS[0]))
    assert master.app.unfolded_pids == {EXITED_PIDS[0]}
    assert (metrics_dir / f"counter_{EXITED_PIDS[0]}.db").exists()
    assert sample(scrape(live), REQUESTS) == 3  # still counted, from its own file
    exit_worker(EXITED_PIDS[1], 2)
    _child_exit(master, SimpleNamespace(pid=EXITED_PIDS[1]))
    assert master.app.unfolded_pids == set()
    assert not any(metrics_dir.glob(f"*_{EXITED_PIDS[0]}.db")) and not any(metrics_dir.glob(f"*_{EXITED_PIDS[1]}.db"))
    assert sample(scrape(live), REQUESTS) == 5


def test_a_left_pid_that_a_new_worker_was_given_is_not_folded(metrics_dir, master):
    live = worker(LIVE_PID, 1)
    master.app.unfolded_pids = {LIVE_PID}  # left by an exit that scrapes held up; since given to a new worker
    master.WORKERS[LIVE_PID] = SimpleNamespace(pid=LIVE_PID)
    exit_worker(EXITED_PIDS[0], 2)
    _child_exit(master, SimpleNamespace(pid=EXITED_PIDS[0]))
    assert master.app.unfolded_pids == set()
    assert (metrics_dir / f"counter_{LIVE_PID}.db").exists()
    assert sample(scrape(live), REQUESTS) == 3


def test_gauges_add_up_over_live_workers_only(metrics_dir, master):
    # A worker killed mid-request must not leave a request in progress for good, nor an old bundle's version after
    # a reload: the gauges' multiprocess modes (livesum, livemax) drop an exited worker's files.
    live = worker(LIVE_PID, 1)
    live.in_progress.inc()  # a request being handled, besides the scrape
    killed = worker(EXITED_PIDS[0], 1)
    killed.in_progress.inc()
    killed.model.labels(model_version="0.9").set(1)  # the bundle served before a reload
    assert sample(scrape(live), "moderation_http_requests_in_progress") == 2
    values.ValueClass.close_all_files()
    _child_exit(master, SimpleNamespace(pid=EXITED_PIDS[0]))
    text = scrape(live)
    assert sample(text, "moderation_http_requests_in_progress") == 1
    assert sample(text, 'moderation_model_info{model_version="1.0"}') == 1
    assert sample(text, 'moderation_model_info{model_version="0.9"}') is None
    assert sample(text, REQUESTS) == 2  # the counts stay


def test_the_masters_own_scrape_counts_each_exited_worker_once_while_it_folds(metrics_dir, master, monkeypatch):
    """The health port's /metrics is read by the master, which also folds: a fold (on SIGCHLD) waits for its scrape."""
    live = worker(LIVE_PID, 1)
    exit_worker(EXITED_PIDS[0], 2)
    read = MmapedDict.read_all_values_from_file
    folds: list[threading.Thread] = []

    def read_while_the_master_folds(path: str):
        if not folds:  # the scrape has listed the files: a worker's exit is handled meanwhile
            folds.append(threading.Thread(target=_child_exit, args=(master, SimpleNamespace(pid=EXITED_PIDS[0]))))
            folds[0].start()
            folds[0].join(UNFOLDED_FOLD_SECONDS)
        return read(path)

    monkeypatch.setattr(MmapedDict, "read_all_values_from_file", staticmethod(read_while_the_master_folds))
    during, content_type = master_metrics(master)
    folds[0].join(PATIENT_SECONDS)
    assert content_type.startswith("text/plain")
    assert master.app.unfolded_pids == set() and not (metrics_dir / f"counter_{EXITED_PIDS[0]}.db").exists()
    assert sample(during.decode(), REQUESTS) == sample(scrape(live), REQUESTS) == 3


def test_a_metric_file_has_its_blocks_allocated_so_a_full_disk_is_an_error_not_a_sigbus(tmp_path, monkeypatch):
    # prometheus_client made the file sparse and wrote through an mmap: on a full disk the write was a SIGBUS that
    # killed every worker in turn (and the master folding sums), so nothing served.
    import errno

    from prometheus_client.mmap_dict import MmapedDict

    from service.metrics import AllocatedMmapedDict

    sparse, allocated = MmapedDict(str(tmp_path / "sparse.db")), AllocatedMmapedDict(str(tmp_path / "counter_1.db"))
    for index in range(3000):  # grows the file past its first 64 KiB
        allocated.write_value(f"moderation_metric_{index}", float(index), 0.0)
    allocated.close()
    sparse.close()
    stat = (tmp_path / "counter_1.db").stat()
    assert stat.st_size > 65_536 and stat.st_blocks * 512 >= stat.st_size  # every block on disk
    assert (tmp_path / "sparse.db").stat().st_blocks * 512 < 65_536  # what it replaces: a hole a write may not fill
    values = {key: value for key, value, _, _ in MmapedDict.read_all_values_from_file(str(tmp_path / "counter_1.db"))}
    assert values["moderation_metric_2999"] == 2999.0

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space left"):
        AllocatedMmapedDict(str(tmp_path / "counter_2.db"))
    assert (tmp_path / "counter_2.db").stat().st_size == 0  # no sparse file left to write into


def test_requests_are_answered_when_the_metric_files_cannot_be_written(tiny_bundle_path, monkeypatch, capsys):
    import errno

    from prometheus_client import values

    import service.metrics
    from service.app import create_app

    class NoRoom:  # a multiprocess value whose file cannot be allocated (AllocatedMmapedDict on a full disk)
        def __init__(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(values, "ValueClass", service.metrics._file_or_memory_value(NoRoom))  # as in multiprocess mode
    monkeypatch.setattr(service.metrics, "_lost_logged", False)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_REQUIRED": False})
    client = app.test_client()
    for _ in range(3):
        assert client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "Thanks."}]}).status_code == 200
    lost = [line for line in capsys.readouterr().err.splitlines() if "metrics not written" in line]
    assert len(lost) == 1 and "No space left on device" in lost[0]  # once per process
