"""How long the slowest request allowed by ``MAX_REQUEST_CHARS`` takes to answer: the measurement behind its default.

Run ``python -m service.request_cost [--model VERSION] [--chars N]``. It builds the app in process (a throwaway SQLite
database, no key, limits lifted) and times, one after the other, requests of ``N`` characters of comment text (the
setting's value by default) written several ways: news comments from the public test sets, one symbol repeated
(one word piece per character), and a CJK character with a full stop repeated (a sentence every two characters,
the slowest text found); as ``/v1/moderate`` requests and as a Google batch of ``comments:analyze`` calls with
``spanAnnotations`` (each sentence scored again, so their texts count twice). It also times one news comment of
``CORAL_MAX_SCORED_CHARS`` and one of ``MAX_COMMENT_CHARS`` characters, best of three (the cost behind Coral's cap). It
prints one line per request and the slowest; ``--out reports/request_cost.md`` also writes them as Markdown with a JSON
twin (``make bench`` does). Compare the slowest with ``TIMEOUT_SECONDS``: gunicorn kills a worker silent for longer,
and its request is lost. The answers are not checked beyond their status; nothing else is written but the temporary
database.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path

import click

from model.evaluation.report_format import check_writable, out_problem, write_report
from service.config import EXTENSION_KEY, Defaults

SLOW_TEXTS: dict[str, str] = {"one symbol repeated": "@", "a CJK character and a full stop repeated": "漢。"}
"""Texts that cost the encoder most per character: one word piece per character, and for the second one sentence
per two characters as well."""
NEWS = "news comments (public test sets)"
BOUNDARY = "request_cost_batch"
COMMAND = "python -m service.request_cost"
SINGLE_ROUNDS = 3
"""One comment of a given length is timed this many times and the best kept (it takes a fraction of a second)."""


def _pieces(text: str, total: int, longest: int) -> list[str]:
    """``total`` characters of ``text`` repeated, cut into comments of at most ``longest`` characters."""
    whole = (text * (total // len(text) + 1))[:total]
    return [whole[start:start + longest] for start in range(0, total, longest)]


def news_comments(total: int, most: int, data_dir: str | None, longest_first: bool = False) -> list[str]:
    """Up to ``most`` public test-set comments holding at most ``total`` characters: in the benchmark's shuffled order,
    or the longest first."""
    from model.evaluation.benchmark import benchmark_texts

    pool = benchmark_texts(10 * most, data_dir)[0]
    if longest_first:
        pool = sorted(set(pool), key=len, reverse=True)
    chosen, used = [], 0
    for text in pool:
        if len(chosen) == most:
            break
        if used + len(text) <= total:
            chosen.append(text)
            used += len(text)
    return chosen


def long_comment(chars: int, data_dir: str | None) -> str:
    """One comment of ``chars`` characters: news comments of the public test sets, in the benchmark's order, joined."""
    from model.evaluation.benchmark import benchmark_texts

    return _pieces(" ".join(benchmark_texts(1000, data_dir)[0]) + " ", chars, chars)[0].rstrip()


def batch_body(texts: list[str]) -> tuple[bytes, str]:
    """A Google batch (multipart/mixed) of one ``comments:analyze`` with ``spanAnnotations`` per text."""
    parts = []
    for number, text in enumerate(texts, 1):
        analyze = json.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True})
        parts.append(f"--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-ID: <{number}>\r\n\r\n"
                     f"POST /v1alpha1/comments:analyze HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{analyze}\r\n")
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode("utf-8"), f'multipart/mixed; boundary="{BOUNDARY}"'


def _timed(send: Callable[[], object], rounds: int = 1) -> tuple[float, int]:
    """The best of ``rounds`` timings of ``send()`` and the status of the last answer."""
    best, status = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        status = send().status_code
        best = min(best, time.perf_counter() - started)
    return best, status


def _moderate(client, texts: list[str]) -> Callable[[], object]:
    return lambda: client.post("/v1/moderate", json={"comments": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})


def _requests(client, chars: int, data_dir: str | None) -> list[dict]:
    """What is timed: ``label``, ``kind`` (``request``: the slowest a setting allows; ``one comment``) and ``send``."""
    longest, most = Defaults.MAX_COMMENT_CHARS, Defaults.MAX_COMMENTS_PER_REQUEST
    found = []
    for order, longest_first in (("", False), ("the longest ", True)):
        news = news_comments(chars, most, data_dir, longest_first)
        found.append({"label": f"/v1/moderate, {len(news)} {order}{NEWS}, {sum(map(len, news)):,} characters",
                      "kind": "request", "send": _moderate(client, news)})
    for name, text in SLOW_TEXTS.items():
        pieces = _pieces(text, chars, longest)
        found.append({"label": f"/v1/moderate, {len(pieces)} comments, {name}", "kind": "request",
                      "send": _moderate(client, pieces)})
        parts = _pieces(text, chars // 2, Defaults.PERSPECTIVE_MAX_TEXT_CHARS)  # spanAnnotations count twice
        body, content_type = batch_body(parts)
        found.append({"label": f"/batch, {len(parts)} comments:analyze with spanAnnotations, {name}", "kind": "request",
                      "send": lambda body=body, content_type=content_type: client.post("/batch", data=body,
                                                                                       content_type=content_type)})
    for setting in ("CORAL_MAX_SCORED_CHARS", "MAX_COMMENT_CHARS"):
        size = getattr(Defaults, setting)
        found.append({"label": f"/v1/moderate, one comment of {size:,} characters of {NEWS} ({setting})",
                      "kind": "one comment", "send": _moderate(client, [long_comment(size, data_dir)])})
    return found


def run_request_cost(model: str | None = None, chars: int = Defaults.MAX_REQUEST_CHARS, data_dir: str | None = None,
                     echo: Callable[[str], None] = lambda line: None) -> dict:
    """Time each request of ``_requests`` in process (one encoder thread); ``echo`` gets a line per request."""
    from service.app import create_app

    unlimited = "1000000000 per minute"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        config = {"DB_URL": f"sqlite:///{Path(folder) / 'cost.db'}", "DECISION_SPOOL_DIR": str(Path(folder) / "spool"),
                  "AUTH_REQUIRED": False, "LOG_LEVEL": "WARNING", "MAX_REQUEST_CHARS": chars, "RATE_LIMIT": unlimited,
                  "KEY_COMMENT_LIMIT": unlimited, "KEY_CHAR_LIMIT": unlimited, "ENCODER_THREADS": 1}
        if model is not None:
            config["MODEL"] = model
        app = create_app(config)
        client = app.test_client()
        scorer = app.extensions[EXTENSION_KEY]
        requests = _requests(client, chars, data_dir)
        client.post("/v1/moderate", json={"comments": [{"id": "warm", "text": "Warm up."}]})
        echo(f"model {scorer.model_version}, {chars:,} characters of comment text per request, in process:")
        timed = []
        for request in requests:
            rounds = SINGLE_ROUNDS if request["kind"] == "one comment" else 1
            seconds, status = _timed(request["send"], rounds)
            timed.append({"label": request["label"], "kind": request["kind"], "seconds": round(seconds, 3),
                          "status": status, "rounds": rounds})
            echo(f"  {seconds:6.1f} s  HTTP {status}  {request['label']}")
    return {"command": COMMAND, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                        "load_average_at_start": round(load_before, 2), "load_average_at_end": round(os.getloadavg()[0], 2)},
            "model": scorer.model_version, "encoder_mode": scorer.encoder_mode, "chars": chars,
            "timeout_seconds": Defaults.TIMEOUT_SECONDS, "requests": timed,
            "slowest_seconds": max((r["seconds"] for r in timed if r["kind"] == "request"), default=None)}


def request_cost_markdown(results: dict) -> str:
    """Render ``run_request_cost`` results as Markdown."""
    machine = results["machine"]
    lines = [
        "# Request cost", "",
        f"Produced by `{results['command']} --chars {results['chars']}` at {results['created_at']} on "
        f"{machine['platform']}, {machine['cpu_count']} CPUs, load average {machine['load_average_at_start']:.1f} at "
        f"the start and {machine['load_average_at_end']:.1f} at the end. Model **{results['model']}**"
        + (f", encoder mode `{results['encoder_mode']}`" if results.get("encoder_mode") else "")
        + ", one encoder thread, requests answered in process (no network) one after the other. Numbers are in the "
        "JSON twin.", "",
        f"## The slowest requests of {results['chars']:,} characters (`MAX_REQUEST_CHARS`)", "",
        "| request | seconds | HTTP status |", "|---|---|---|",
    ]
    lines += [f"| {r['label']} | {r['seconds']:.1f} | {r['status']} |" for r in results["requests"] if r["kind"] == "request"]
    lines += ["", f"Slowest: **{results['slowest_seconds']:.1f} s**; gunicorn's `TIMEOUT_SECONDS` is "
              f"{results['timeout_seconds']} s.", "", "## One long comment", "",
              "Best of the rounds given; Coral's endpoint withholds a longer comment than `CORAL_MAX_SCORED_CHARS` "
              "unscored (docs/api.md).", "", "| request | rounds | seconds | HTTP status |", "|---|---|---|---|"]
    lines += [f"| {r['label']} | {r['rounds']} | {r['seconds']:.2f} | {r['status']} |"
              for r in results["requests"] if r["kind"] == "one comment"]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--model", default=None, help="Bundle version or folder (default: the current bundle).")
@click.option("--chars", type=click.IntRange(min=1), default=Defaults.MAX_REQUEST_CHARS, show_default=True,
              help="Characters of comment text per request (MAX_REQUEST_CHARS).")
@click.option("--data-dir", default=None, help="Data directory for the news comments (default: $MODERATION_DATA_DIR or ../shared/data).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the timings as Markdown here, with a JSON twin beside it.")
def main(model: str | None, chars: int, data_dir: str | None, out: Path | None) -> None:
    """Time the slowest requests of --chars characters of comment text, and one long comment, in process."""
    if out is not None:
        try:
            check_writable(out, out.with_suffix(".json"))
        except OSError as error:
            raise click.UsageError(out_problem(error)) from error
    results = run_request_cost(model, chars, data_dir, echo=click.echo)
    click.echo(f"slowest {results['slowest_seconds']:.1f} s; TIMEOUT_SECONDS is {results['timeout_seconds']} s")
    if out is not None:
        write_report(out, request_cost_markdown(results), results)
        click.echo(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
