"""The record a complete ``moderate score`` run leaves beside its OUTPUT (``.OUTPUT.done.json``): its settings, the
size and modification time of every file it wrote, and its counts.

It answers two questions later runs ask: is OUTPUT already what this run would write (``--resume`` with no
interrupted run then has nothing to do: ``up_to_date``), and which Parquet files in a folder OUTPUT did an earlier
run write (``--overwrite`` removes those INPUT no longer has once the new parts are complete; any other is refused,
never removed: ``other_parts``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from model.bundle import replace_text
from service.spool import Tally, describe_change, spool_path
from service.tables import TableError

if TYPE_CHECKING:  # service.archive imports this module
    from service.archive import Job

DONE_SUFFIX = ".done.json"
"""A complete run's record beside its output (``.scored.csv.done.json``)."""


def other_parts(job: Job) -> tuple[list[Path], list[Path]]:
    """Parquet files in a folder OUTPUT that are not parts of this job, which a reader of the folder would mix with
    them: those the last complete run into it wrote and nobody changed since (``--overwrite`` removes them once this
    run is complete), and the others, which are never removed. Hidden files (``.``, ``_``) are not read as parts."""
    if not job.is_folder or not job.output.is_dir():
        return [], []
    written = _done_record(job).get("outputs", {})
    earlier, foreign = [], []
    for path in sorted(job.output.iterdir()):
        if path in job.outputs or path.suffix.lower() != ".parquet" or path.name.startswith((".", "_")):
            continue
        (earlier if written.get(str(path.resolve())) == _stamp(path) else foreign).append(path)
    return earlier, foreign


def refuse_foreign_parts(job: Job, foreign: Sequence[Path]) -> None:
    more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
    raise TableError(f"{job.output}: holds Parquet files that are not parts of INPUT and that moderate score has no "
                     f"record of writing there (or that changed since): {', '.join(map(str, foreign[:3]))}{more}; a "
                     f"reader of the folder would take their rows for scored comments: move them out of {job.output} "
                     "(this command never deletes them), or choose another OUTPUT")


def _stamp(path: Path) -> list[int]:
    """Size and modification time: what tells that a file is still the one a run wrote."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def _done_record(job: Job) -> dict:
    """The record of the last complete run into the job's OUTPUT (``Job.done_path``); empty if none can be read."""
    try:
        record = json.loads(job.done_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def record_done(job: Job, settings: dict, tally: Tally) -> None:
    """A complete run: remove the parts of an earlier input it replaced (``other_parts``), then record what it wrote."""
    for path in other_parts(job)[0]:
        path.unlink(missing_ok=True)
    outputs = {str(path.resolve()): _stamp(path) for path in job.outputs}
    replace_text(job.done_path, json.dumps({"settings": settings, "outputs": outputs, "rejects": _rejects_stamp(job),
                                            "tally": tally.to_dict()}, ensure_ascii=False))


def _rejects_stamp(job: Job) -> list[int] | None:
    """The ``.rejects`` file's ``_stamp``, None when there is none (a run that could parse every row)."""
    return _stamp(job.rejects_path) if job.rejects_path.exists() else None


def up_to_date(job: Job, settings: dict) -> list[str]:
    """Why OUTPUT is not what this run would write, in the user's words: empty when the last complete run into it had
    the same ``settings`` (``run_settings``), scored rows (a run that could parse none exits 3: not done), and its
    outputs are as that run left them."""
    record = _done_record(job)
    if not record:
        return ["no record of the run that wrote it"]
    earlier = record.get("settings", {})
    keys = [*settings, *(key for key in earlier if key not in settings)]  # a setting recorded only when given
    why = [describe_change(key, earlier.get(key), settings.get(key)) for key in keys
           if earlier.get(key) != settings.get(key)]
    counts = record.get("tally", {})
    if counts.get("read") and not counts.get("scored"):
        why.append("that run could parse no row of INPUT, so it scored none")
    written = record.get("outputs", {})
    for path in job.outputs:
        if not path.exists():
            why.append(f"{path} is missing")
        elif written.get(str(path.resolve())) != _stamp(path):
            why.append(f"{path} changed since that run wrote it")
    # The rows that run set aside are part of what it wrote (a record from before they were stamped is not asked).
    if "rejects" in record and record["rejects"] != _rejects_stamp(job):
        if record["rejects"] is None:
            why.append(f"{job.rejects_path} is not that run's (it set no row aside)")
        else:
            why.append(f"{job.rejects_path} {'changed since that run wrote it' if job.rejects_path.exists() else 'is missing'}")
    return why


def check_nothing_to_resume(job: Job, settings: dict, overwrite: bool, stream: IO[str]) -> bool:
    """``--resume`` without an interrupted run's work: True when OUTPUT is up to date (nothing to do); an OUTPUT an
    earlier run wrote otherwise is refused unless ``overwrite``; else this run scores from the start, saying so."""
    why = up_to_date(job, settings)
    if not why:
        return True
    work = spool_path(job.output)
    existing = job.existing_outputs()
    if existing and not overwrite:
        raise TableError(f"nothing to resume: no interrupted run left work in {work}, and {existing[0]} is not the "
                         f"complete output of this command: {'; '.join(why)}; pass --overwrite instead of --resume to "
                         "score INPUT again and replace it")
    print(f"Nothing to resume: no interrupted run left work in {work}; scoring from the start.", file=stream,
          flush=True)
    return False
