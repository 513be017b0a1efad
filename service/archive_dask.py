"""``moderate score --engine dask``: the archive's chunks scored as ``dask.dataframe`` partitions on a cluster.

Each input part is cut where the local engine cuts it into chunks (``TableReader.chunk_ranges``: byte ranges of
CSV and JSON Lines, runs of Parquet row groups). A partition reads its range on a worker and scores it with
``service.archive.score_frame``, the local engine's function, with the worker's own scorer: a worker plugin
(``ScorerPlugin``) loads the bundle once when the worker joins, so no task carries the model. The client
gathers finished partitions in order and writes them through the same ``Spool`` as the local engine, so
``--resume``, the ``.rejects`` file and the output format are shared. Workers read the inputs and the bundle
from the same paths as the client: a shared or copied file system (docs/archive-scoring.md).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from model.parallel import workers_ignore_ctrl_c
from model.policy import Policy
from service.archive import Job, Progress, added_columns, score_frame
from service.spool import Spool, Tally
from service.table_reader import ChunkRange, Reject, TableReader

PLUGIN_NAME = "moderation-scorer"
KEEP_OBJECT_COLUMNS = {"dataframe.convert-string": False}
"""Dask turns every object column of a partition into strings by default (its ``convert-string``): JSON Lines ids 1
into "1", objects into Python's repr, true into "True". Partitions must reach the writer as the local engine gives them."""
IN_FLIGHT_PER_WORKER = 2
"""Partitions computed ahead of the one being written, per worker: keeps workers busy, bounds client memory."""
LOCAL_HOST = "127.0.0.1"


class ScorerPlugin(WorkerPlugin):
    """Loads the scorer once on each worker (``setup``); tasks find it on ``get_worker().plugins``.

    Only the bundle's path, the encoder mode, the encoder threads and the policy are pickled and sent to the workers;
    each loads and verifies the bundle itself, in the client's mode rather than one from its own environment, and
    decides with the client's policy (``None``: the bundle's own), never one from its own files or environment.
    ``encoder_threads`` None (a remote cluster, whose machines the client does not know): the worker's own
    ``$MODERATION_ENCODER_THREADS``, else 1.
    """

    name = PLUGIN_NAME

    def __init__(self, model_path: str, encoder_mode: str | None = None, encoder_threads: int | None = None,
                 policy: Policy | None = None):
        self.model_path = model_path
        self.encoder_mode = encoder_mode
        self.encoder_threads = encoder_threads
        self.policy = policy
        self.scorer = None
        self.error = ""

    def setup(self, worker) -> None:
        """Load and verify the bundle on this worker; keep the error for the first task to raise."""
        from model.bundle import BundleError
        from model.scoring import Scorer

        try:
            loaded = Scorer.load(self.model_path, encoder_mode=self.encoder_mode, encoder_threads=self.encoder_threads)
            self.scorer = Scorer(loaded.bundle, self.policy)
        except (BundleError, OSError) as error:
            self.error = f"{type(error).__name__}: {error}"


def _worker_scorer():
    from model.bundle import BundleError

    plugin = get_worker().plugins[PLUGIN_NAME]
    if plugin.scorer is None:
        raise BundleError(f"a Dask worker could not load the model bundle {plugin.model_path}: {plugin.error}")
    return plugin.scorer


def score_partition(task: tuple) -> pd.DataFrame:
    """Read one chunk range of one part and score it on this worker; rejects and counts travel in ``attrs``."""
    path, chunk_range, columns, chunk_rows, text_column, with_spans, encoding, html = task
    scorer = _worker_scorer()
    with TableReader(path, chunk_rows, chunk_range=chunk_range, columns=columns, encoding=encoding) as reader:
        chunks = list(reader.chunks())
    frames = [frame for frame, _ in chunks]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    scored, tally = score_frame(frame, text_column, scorer.moderate, scorer.attributes, with_spans, html)
    rejects = [reject for _, found in chunks for reject in found]
    scored.attrs = {"tally": tally.to_dict(), "rejects": [reject.to_dict() for reject in rejects]}
    return scored


def _client(jobs: int, scheduler: str | None):
    """A client of the cluster at ``scheduler``, or of a new LocalCluster of ``jobs`` single-threaded workers."""
    if scheduler is not None:
        return Client(scheduler), None
    # One thread per worker: scoring holds the GIL, so more threads would only share one core.
    with workers_ignore_ctrl_c():
        # The scheduler serves its HTTP routes (metrics, health) even without a dashboard, by default on port 8787;
        # when that is taken (a second job at once) distributed tries it, leaks the socket and picks another: asking
        # for any free port of this host from the start avoids both.
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host=LOCAL_HOST,
                               dashboard_address=None, silence_logs=logging.ERROR,
                               scheduler_kwargs={"dashboard": False, "dashboard_address": f"{LOCAL_HOST}:0"})
    return Client(cluster), cluster


def score_parts_on_dask(job: Job, spool: Spool, model_path: Path, attributes: Sequence[str], progress: Progress,
                        jobs: int, scheduler: str | None, encoder_mode: str | None = None,
                        encoder_threads: int | None = None, policy: Policy | None = None) -> None:
    """Score every chunk not yet done as a Dask partition, writing results in order as they arrive; each worker's
    encoder gets ``encoder_threads`` (``None``: the worker's own ``$MODERATION_ENCODER_THREADS``, else 1), and each
    worker decides with ``policy`` (``None``: the bundle's own)."""
    added = added_columns(attributes, job.html)
    client, cluster = _client(jobs, scheduler)
    try:
        client.register_plugin(ScorerPlugin(str(model_path), encoder_mode, encoder_threads, policy), name=PLUGIN_NAME)
        n_workers = max(len(client.scheduler_info(n_workers=-1)["workers"]), 1)
        for part, (source, target) in enumerate(zip(job.inputs, job.outputs)):
            if spool.part_done(part):
                progress.skip(_units(progress, source, None))
                continue
            with TableReader(source, job.chunk_rows, encoding=job.encoding) as reader:
                columns = reader.columns if reader.format == "csv" else None
                ranges = reader.chunk_ranges()
            todo = [chunk for chunk in range(len(ranges)) if not spool.chunk_done(part, chunk)]
            for chunk in set(range(len(ranges))) - set(todo):
                progress.skip(_units(progress, source, ranges[chunk]))
            tasks = [(str(source), ranges[chunk], columns, job.chunk_rows, job.text_column, job.with_spans,
                      job.encoding, job.html) for chunk in todo]
            if tasks:
                meta = pd.DataFrame(columns=[*(columns or []), *added])
                with dask.config.set(KEEP_OBJECT_COLUMNS):
                    partitions = dd.from_map(score_partition, tasks, meta=meta, enforce_metadata=False).to_delayed()
                pending: deque = deque()
                for chunk, partition in zip(todo, partitions):
                    pending.append((chunk, client.compute(partition)))
                    if len(pending) >= IN_FLIGHT_PER_WORKER * n_workers:
                        _write_next(pending, spool, part, source, job, progress, ranges)
                while pending:
                    _write_next(pending, spool, part, source, job, progress, ranges)
            spool.finish_part(part, len(ranges), target, job.suffix)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _write_next(pending: deque, spool: Spool, part: int, source: Path, job: Job, progress: Progress,
                ranges: list[ChunkRange]) -> None:
    """Wait for the oldest partition in flight and write it as its chunk."""
    chunk, future = pending.popleft()
    frame = future.result()
    info, frame.attrs = frame.attrs, {}
    tally = Tally.from_dict(info["tally"])
    rejects = [Reject(**reject) for reject in info["rejects"]]
    tally.read += len(rejects)
    tally.rejected = len(rejects)
    spool.write_chunk(part, chunk, frame, job.suffix, tally, rejects, source.name, job.spreadsheet_safe)
    progress.update(_units(progress, source, ranges[chunk]), tally.scored)


def _units(progress: Progress, source: Path, chunk_range: ChunkRange | None) -> int:
    """Progress units of one chunk range (or of the whole part): bytes, or rows of Parquet row groups."""
    if chunk_range is None:
        if progress.by_rows:
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).metadata.num_rows
        return source.stat().st_size
    if progress.by_rows:
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(source).metadata
        return sum(metadata.row_group(group).num_rows for group in range(chunk_range.start, chunk_range.end))
    return chunk_range.end - chunk_range.start
