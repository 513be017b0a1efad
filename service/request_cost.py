"""How long the slowest request allowed by ``MAX_REQUEST_CHARS`` takes to answer: the measurement behind its default.

Run ``python -m service.request_cost [--model VERSION] [--chars N]``. It builds the app in process (a throwaway SQLite
database, no key, limits lifted) and times, one after the other, requests of ``N`` characters of comment text (the
setting's value by default) written several ways: news comments from the public test sets, one symbol repeated
(one word piece per character), and a CJK character with a full stop repeated (a sentence every two characters,
the slowest text found); as ``/v1/moderate`` requests and as a Google batch of ``comments:analyze`` calls with
``spanAnnotations`` (each sentence scored again, so their texts count twice). It prints one line per request and the slowest. Compare the
slowest with ``TIMEOUT_SECONDS``: gunicorn kills a worker silent for longer, and its request is lost. The answers
are not checked beyond their status; nothing is written but the temporary database.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click

from service.config import EXTENSION_KEY, Defaults

SLOW_TEXTS: dict[str, str] = {"one symbol repeated": "@", "a CJK character and a full stop repeated": "漢。"}
"""Texts that cost the encoder most per character: one word piece per character, and for the second one sentence
per two characters as well."""
NEWS = "news comments (public test sets)"
BOUNDARY = "request_cost_batch"


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


def batch_body(texts: list[str]) -> tuple[bytes, str]:
    """A Google batch (multipart/mixed) of one ``comments:analyze`` with ``spanAnnotations`` per text."""
    parts = []
    for number, text in enumerate(texts, 1):
        analyze = json.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True})
        parts.append(f"--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-ID: <{number}>\r\n\r\n"
                     f"POST /v1alpha1/comments:analyze HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{analyze}\r\n")
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode("utf-8"), f'multipart/mixed; boundary="{BOUNDARY}"'


def _timed(send: Callable[[], object]) -> tuple[float, int]:
    started = time.perf_counter()
    response = send()
    return time.perf_counter() - started, response.status_code


@click.command()
@click.option("--model", default=None, help="Bundle version or folder (default: the current bundle).")
@click.option("--chars", type=click.IntRange(min=1), default=Defaults.MAX_REQUEST_CHARS, show_default=True,
              help="Characters of comment text per request (MAX_REQUEST_CHARS).")
@click.option("--data-dir", default=None, help="Data directory for the news comments (default: $MODERATION_DATA_DIR or ../shared/data).")
def main(model: str | None, chars: int, data_dir: str | None) -> None:
    """Time the slowest requests of --chars characters of comment text, in process."""
    from service.app import create_app

    longest, most = Defaults.MAX_COMMENT_CHARS, Defaults.MAX_COMMENTS_PER_REQUEST
    unlimited = "1000000000 per minute"
    with tempfile.TemporaryDirectory() as folder:
        config = {"DB_URL": f"sqlite:///{Path(folder) / 'cost.db'}", "DECISION_SPOOL_DIR": str(Path(folder) / "spool"),
                  "AUTH_REQUIRED": False, "LOG_LEVEL": "WARNING", "MAX_REQUEST_CHARS": chars, "RATE_LIMIT": unlimited,
                  "KEY_COMMENT_LIMIT": unlimited, "KEY_CHAR_LIMIT": unlimited, "ENCODER_THREADS": 1}
        if model is not None:
            config["MODEL"] = model
        app = create_app(config)
        client = app.test_client()
        version = app.extensions[EXTENSION_KEY].model_version
        requests: dict[str, Callable[[], object]] = {}
        for order, longest_first in (("", False), ("the longest ", True)):
            news = news_comments(chars, most, data_dir, longest_first)
            requests[f"/v1/moderate, {len(news)} {order}{NEWS}, {sum(map(len, news)):,} characters"] = (
                lambda news=news: client.post("/v1/moderate", json={"comments": [{"id": str(i), "text": t} for i, t in enumerate(news)]}))
        for name, text in SLOW_TEXTS.items():
            pieces = _pieces(text, chars, longest)
            requests[f"/v1/moderate, {len(pieces)} comments, {name}"] = (
                lambda pieces=pieces: client.post("/v1/moderate", json={"comments": [{"id": str(i), "text": t} for i, t in enumerate(pieces)]}))
            parts = _pieces(text, chars // 2, Defaults.PERSPECTIVE_MAX_TEXT_CHARS)  # spanAnnotations count twice
            body, content_type = batch_body(parts)
            requests[f"/batch, {len(parts)} comments:analyze with spanAnnotations, {name}"] = (
                lambda body=body, content_type=content_type: client.post("/batch", data=body, content_type=content_type))
        client.post("/v1/moderate", json={"comments": [{"id": "warm", "text": "Warm up."}]})
        click.echo(f"model {version}, {chars:,} characters of comment text per request, in process:")
        slowest = 0.0
        for label, send in requests.items():
            seconds, status = _timed(send)
            slowest = max(slowest, seconds)
            click.echo(f"  {seconds:6.1f} s  HTTP {status}  {label}")
        click.echo(f"slowest {slowest:.1f} s; TIMEOUT_SECONDS is {Defaults.TIMEOUT_SECONDS} s")


if __name__ == "__main__":
    main()
