"""The child process of ``model.evaluation.startup``: ``moderate score --text``, timed phase by phase.

``python -m model.evaluation.startup_phases SPAWNED_AT TEXT [MODEL]`` imports the CLI, then the serving core, and runs
``moderate score --text TEXT [--model MODEL]`` itself, with ``Scorer.load`` and ``Scorer.moderate`` wrapped to note
when they return. Last, it prints as JSON how long each phase took (the first counted from ``SPAWNED_AT``, the
parent's ``time.time()`` when it started this process) and how many compiled kernels came from the on-disk cache.
Only the standard library is imported before the first phase ends: every import of the command is timed.
"""

from __future__ import annotations

import json
import sys
import time


def phases(spawned_at: float, text: str, model_path: str | None) -> dict:
    """Seconds of each phase (``model.evaluation.startup.PHASE_NAMES``) and the kernel cache's use (``kernel_cache``)."""
    ends = {"interpreter": time.time()}
    from service.cli import cli

    ends["cli_imports"] = time.time()
    from model.scoring import Scorer

    ends["core_imports"] = time.time()
    load, moderate = Scorer.load.__func__, Scorer.moderate

    def timed_load(cls, *args, **kwargs):
        scorer = load(cls, *args, **kwargs)
        ends["bundle_load"] = time.time()
        return scorer

    def timed_moderate(self, *args, **kwargs):
        decisions = moderate(self, *args, **kwargs)
        ends.setdefault("first_decision", time.time())
        return decisions

    Scorer.load, Scorer.moderate = classmethod(timed_load), timed_moderate
    cli.main(["score", "--text", text, *(["--model", model_path] if model_path else [])], prog_name="moderate",
             standalone_mode=False)
    starts = [spawned_at, *ends.values()]
    return {**{phase: end - start for (phase, end), start in zip(ends.items(), starts)}, "kernels": kernel_cache()}


def kernel_cache() -> dict:
    """How many compiled kernels this process read from the on-disk cache and how many it compiled, and where."""
    from model import kernels

    dispatchers = [value for value in vars(kernels).values() if hasattr(value, "stats") and hasattr(value, "py_func")]
    return {"cache_hits": sum(sum(d.stats.cache_hits.values()) for d in dispatchers),
            "compiled": sum(sum(d.stats.cache_misses.values()) for d in dispatchers),
            "cache_path": dispatchers[0].stats.cache_path if dispatchers else None}


if __name__ == "__main__":
    _, spawned, text_arg, *model_arg = sys.argv  # no argument parser: its imports would be timed with the rest
    print(json.dumps(phases(float(spawned), text_arg, model_arg[0] if model_arg else None)))
