"""Load test of a real ``moderate serve`` process on loopback: latency, throughput and server CPU per request.

Run ``python -m service.loadtest [--out reports/bench_service.md]`` (``make bench`` does). It starts the
server on a free 127.0.0.1 port with 2 workers, a throwaway SQLite database and a fresh API key, then
sends bounded numbers of ``POST /v1/moderate`` requests: one comment per request at concurrency 1, 8
and 32, and 100-comment batches. Every answer must be a 200 (errors are counted and make the command
fail). The target is p99 under 50 ms for one comment at concurrency 8. The client runs on the same
machine and takes CPU from the server, so the numbers are a lower bound for a dedicated host.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from model.encoder_model import MODES
from model.evaluation.report_format import encoder_mode_note, write_report
from service.config import Defaults

HOST = "127.0.0.1"
WORKERS = 2
THREADS = Defaults.THREADS
CONCURRENCY_LEVELS = (1, 8, 32)
REQUESTS_PER_LEVEL = 1500
"""Single-comment requests sent at each concurrency level: enough that p99 is not just the fourth-slowest
request (with 400 it swung by 2x between runs), few enough that a run takes about a minute."""
WARM_UP_REQUESTS = 20
BATCH_SIZE = 100
BATCH_REQUESTS = 20
TARGET_CONCURRENCY = 8
TARGET_P99_MS = 50.0
STARTUP_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 60
BENCH_RATE_LIMIT = "1000000 per minute"
"""The run measures the server, not the per-key limits, so they are lifted for it."""
BENCH_CHAR_LIMIT = "1000000000 per minute"
COMMAND = "python -m service.loadtest"
MS_PER_SECOND = 1000.0
STAT_UTIME, STAT_STIME = 11, 12
"""Positions of utime and stime in /proc/PID/stat after the ``(command)`` field."""


class LoadTestError(RuntimeError):
    """The server did not start or the run could not be made; the message says why."""


def moderate_command() -> list[str]:
    """How to run ``moderate`` with this interpreter: the console script beside it, else ``-m service.cli``."""
    script = Path(sys.executable).with_name("moderate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in (0, 1]) of non-empty ``values``."""
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


@dataclass
class Server:
    """A running ``moderate serve`` subprocess and how to reach it."""

    process: subprocess.Popen
    port: int
    key: str
    log_path: Path

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit status (killed after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and workers), from Linux's /proc; [] elsewhere."""
    pids = [pid]
    for parent in pids:
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as children:
                    pids.extend(int(child) for child in children.read().split())
        except OSError:
            if parent == pid:
                return []
    return pids


def server_cpu_seconds(server: Server) -> float | None:
    """CPU time (user + system) used so far by the server's processes that are alive now; None off Linux."""
    pids = _process_tree(server.process.pid)
    if not pids:
        return None
    total_ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total_ticks += int(fields[STAT_UTIME]) + int(fields[STAT_STIME])
    return total_ticks / os.sysconf("SC_CLK_TCK")


def server_rss_mib(server: Server) -> dict[str, float] | None:
    """Resident memory (VmRSS, MiB) of the server's master and of each worker alive now; None off Linux."""
    pids = _process_tree(server.process.pid)
    if not pids:
        return None
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        found[str(pid)] = round(kib / 1024, 1)
    return found


def _rss_summary(rss: Mapping[str, float] | None, master_pid: int) -> dict | None:
    if not rss:
        return None
    workers = [mib for pid, mib in rss.items() if pid != str(master_pid)]
    return {"master_mib": rss.get(str(master_pid)), "worker_mib": workers,
            "mean_worker_mib": round(sum(workers) / len(workers), 1) if workers else None}


def _server_env(workdir: Path, policy: Path | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODERATION_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    if policy is not None:  # the one setting of the caller's a run may take: a site's thresholds and span floor
        env["MODERATION_POLICY"] = str(Path(policy).resolve())
    env.update(
        {
            "MODERATION_DB_URL": f"sqlite:///{workdir / 'loadtest.db'}",
            "MODERATION_RATE_LIMIT": BENCH_RATE_LIMIT,
            "MODERATION_KEY_COMMENT_LIMIT": BENCH_RATE_LIMIT,
            "MODERATION_KEY_CHAR_LIMIT": BENCH_CHAR_LIMIT,
            "MODERATION_KEY_CONCURRENT_REQUESTS": "0",  # its clients share one key at concurrency 8
        }
    )
    return env


def start_server(model: Path | None, workdir: Path, workers: int = WORKERS, threads: int = THREADS,
                 encoder_mode: str | None = None, policy: Path | None = None) -> Server:
    """Create an API key, start the server on a free loopback port (serving an encoder bundle in ``encoder_mode``,
    default its own, with the ``policy`` file, default the bundle's policy) and wait until ``/readyz`` says ready."""
    env = _server_env(workdir, policy)
    created = subprocess.run(
        [*moderate_command(), "keys", "create", "loadtest"], env=env, capture_output=True, text=True, timeout=120
    )
    if created.returncode != 0:
        raise LoadTestError(f"could not create an API key: {created.stderr.strip()}")
    key = created.stdout.strip()
    port = free_port()
    command = [*moderate_command(), "serve", "--host", HOST, "--port", str(port), "--health-port", str(free_port()), "--workers", str(workers), "--threads", str(threads)]
    if model is not None:
        command += ["--model", str(model)]
    if encoder_mode is not None:
        command += ["--encoder-mode", encoder_mode]
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    server = Server(process, port, key, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise LoadTestError(f"server exited with status {process.returncode}:\n{_tail(log_path)}")
        try:
            status, _ = request(server, "GET", "/readyz")
            if status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise LoadTestError(f"server not ready after {STARTUP_SECONDS} s:\n{_tail(log_path)}")
        time.sleep(0.2)


def _tail(path: Path, n_lines: int = 20) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n_lines:])


def request(server: Server, method: str, path: str, body: dict | None = None, connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """One HTTP request with the server's key; returns status and body. Reuses ``connection`` when given."""
    own = connection is None
    connection = connection or http.client.HTTPConnection(HOST, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def run_level(server: Server, bodies: Sequence[dict], concurrency: int) -> dict:
    """Send every body once with ``concurrency`` clients on keep-alive connections; latency and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))

    def client() -> None:
        connection = http.client.HTTPConnection(HOST, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    status, payload = request(server, "POST", "/v1/moderate", bodies[index], connection)
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    connection = http.client.HTTPConnection(HOST, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
                    status, payload = None, str(error).encode()
                elapsed = time.perf_counter() - started
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"{status}: {payload[:200].decode('utf-8', 'replace')}")
        finally:
            connection.close()

    cpu_before, client_before = server_cpu_seconds(server), time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    cpu_after, client_cpu = server_cpu_seconds(server), time.process_time() - client_before
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return {
        "concurrency": concurrency,
        "requests": len(bodies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "seconds": round(wall, 3),
        "requests_per_second": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": round(percentile(latencies, 0.5) * MS_PER_SECOND, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * MS_PER_SECOND, 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * MS_PER_SECOND, 1) if latencies else None,
        "max_ms": round(max(latencies) * MS_PER_SECOND, 1) if latencies else None,
        # CPU, unlike wall time, is not inflated by other work on a shared machine.
        "server_cpu_ms_per_request": None if server_cpu is None else round(server_cpu / len(bodies) * MS_PER_SECOND, 2),
        "client_cpu_ms_per_request": round(client_cpu / len(bodies) * MS_PER_SECOND, 2),
    }


def single_bodies(texts: Sequence[str], n: int, offset: int = 0) -> list[dict]:
    """``n`` one-comment bodies cycling through ``texts``."""
    return [{"comments": [{"id": f"c{i}", "text": texts[(offset + i) % len(texts)]}]} for i in range(n)]


def batch_bodies(texts: Sequence[str], n: int, size: int = BATCH_SIZE) -> list[dict]:
    """``n`` bodies of ``size`` comments each, cycling through ``texts``."""
    return [{"comments": [{"id": f"b{i}-{j}", "text": texts[(i * size + j) % len(texts)]} for j in range(size)]} for i in range(n)]


def scraped_errors(server: Server) -> float:
    """5xx answers the server itself counted (from /metrics, summed over the workers)."""
    status, payload = request(server, "GET", "/metrics")
    if status != 200:
        raise LoadTestError(f"/metrics answered {status}")
    total = 0.0
    for line in payload.decode().splitlines():
        if line.startswith("moderation_http_requests_total{") and 'status="5' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_load_test(
    model: Path | None = None,
    requests_per_level: int = REQUESTS_PER_LEVEL,
    batch_requests: int = BATCH_REQUESTS,
    levels: Sequence[int] = CONCURRENCY_LEVELS,
    workers: int = WORKERS,
    threads: int = THREADS,
    data_dir: Path | None = None,
    encoder_mode: str | None = None,
    policy: Path | None = None,
) -> dict:
    """Start a server, run every level and the batch run, stop it; return the results."""
    from model.evaluation.benchmark import benchmark_texts

    texts, source = benchmark_texts(max(requests_per_level, BATCH_SIZE * 2), data_dir)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="moderation-loadtest-") as scratch:
        server = start_server(model, Path(scratch), workers, threads, encoder_mode, policy)
        try:
            _, model_body = request(server, "GET", "/v1/model")
            served = json.loads(model_body)
            model_version, served_mode = served["model_version"], served.get("encoder_mode")
            span_floor = ((served.get("card") or {}).get("span_thresholds") or {}).get("comment_floor")
            run_level(server, single_bodies(texts, WARM_UP_REQUESTS), min(workers * threads, 4))
            single = [run_level(server, single_bodies(texts, requests_per_level, offset=c), c) for c in levels]
            batch = run_level(server, batch_bodies(texts, batch_requests), 1)
            server_errors = scraped_errors(server)
            rss = _rss_summary(server_rss_mib(server), server.process.pid)
        finally:
            exit_status = server.stop()
    target = next((level for level in single if level["concurrency"] == TARGET_CONCURRENCY), None)
    p99 = None if target is None else target["p99_ms"]
    batch["comments_per_second"] = None if batch["requests_per_second"] is None else round(batch["requests_per_second"] * BATCH_SIZE, 1)
    total_errors = sum(level["errors"] for level in [*single, batch])
    return {
        "command": COMMAND,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": model_version,
        "model_path": str(model) if model is not None else "committed bundle",
        "encoder_mode": served_mode,
        "policy": str(policy) if policy is not None else None,
        "span_floor": span_floor,
        "server": {"host": HOST, "workers": workers, "threads_per_worker": threads, "exit_status": exit_status, "rate_limit": BENCH_RATE_LIMIT,
                   "rss_after_runs": rss},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        },
        "texts": {"source": source, "mean_chars": round(statistics.fmean(map(len, texts)), 1)},
        "single_comment": single,
        "batch": {**batch, "comments_per_request": BATCH_SIZE},
        "errors": {"client_seen": total_errors, "server_5xx": server_errors},
        "target": {
            "metric": f"p99 latency, one comment per request, concurrency {TARGET_CONCURRENCY}, {workers} workers",
            "target_ms": TARGET_P99_MS,
            "value_ms": p99,
            "met": p99 is not None and p99 < TARGET_P99_MS,
        },
    }


def _cell(value: object) -> str:
    return "n/a" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)


def load_test_markdown(results: dict) -> str:
    """Render ``run_load_test`` results as a Markdown report."""
    target, server, errors = results["target"], results["server"], results["errors"]
    verdict = "met" if target["met"] else "**missed**"
    lines = [
        "# Service load test", "",
        f"Produced by `{results['command']}` at {results['created_at']} for model version **{results['model_version']}** "
        f"(bundle: `{results['model_path']}`{encoder_mode_note(results.get('encoder_mode'))}), served with "
        f"{_policy_note(results)}. Numbers are in the JSON twin.", "",
        f"Server: `moderate serve` on {server['host']} with {server['workers']} workers x {server['threads_per_worker']} threads, "
        f"SQLite decision log, API key required, rate limit lifted ({server['rate_limit']}). "
        f"Machine: {results['machine']['platform']}, {results['machine']['cpu_count']} CPUs, Python {results['machine']['python']}; "
        f"1-minute load average {results['machine']['load_average_1min']['before']} just before the run (other work already "
        f"competing for the CPUs) and {results['machine']['load_average_1min']['after']} at its end (including the run). "
        "The client runs on the same machine and competes with the server for CPU.", "",
        f"Texts: {results['texts']['source']}; {results['texts']['mean_chars']:.0f} characters on average. "
        "Each request scores every attribute and computes the spans behind them, as the API always does.", "",
        "## Target", "",
        f"{target['metric']}: **{_cell(target['value_ms'])} ms** (target < {target['target_ms']:.0f} ms): {verdict}.", "",
        f"Errors: {errors['client_seen']} non-200 answers or failed requests seen by the client, "
        f"{errors['server_5xx']:.0f} 5xx answers counted by the server's /metrics; server exit status {server['exit_status']}.", "",
        *_rss_lines(server.get("rss_after_runs")),
        "## One comment per request", "",
        "Server CPU is the user + system time of gunicorn's master and workers during the level, per request "
        "(from /proc); client CPU is this load generator's. Unlike latency, neither grows with other load on the machine.", "",
        "| concurrency | requests | errors | requests / s | p50 ms | p99 ms | mean ms | max ms | server CPU ms / request | client CPU ms / request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in results["single_comment"]:
        lines.append(
            f"| {level['concurrency']} | {level['requests']} | {level['errors']} | {_cell(level['requests_per_second'])} | "
            f"{_cell(level['p50_ms'])} | {_cell(level['p99_ms'])} | {_cell(level['mean_ms'])} | {_cell(level['max_ms'])} | "
            f"{_cell(level.get('server_cpu_ms_per_request'))} | {_cell(level.get('client_cpu_ms_per_request'))} |"
        )
    batch = results["batch"]
    lines += [
        "", f"## {batch['comments_per_request']} comments per request (concurrency 1)", "",
        "| requests | errors | p50 ms | p99 ms | comments / s | server CPU ms / request |", "|---|---|---|---|---|---|",
        f"| {batch['requests']} | {batch['errors']} | {_cell(batch['p50_ms'])} | {_cell(batch['p99_ms'])} | {_cell(batch['comments_per_second'])} | "
        f"{_cell(batch.get('server_cpu_ms_per_request'))} |",
    ]
    return "\n".join(lines) + "\n"


def _rss_lines(rss: Mapping | None) -> list[str]:
    if not rss:
        return []
    workers = ", ".join(f"{mib:,.0f}" for mib in rss["worker_mib"]) or "none alive"
    return [f"Resident memory after the runs (VmRSS, from /proc): each worker {workers} MiB, the master "
            f"{_cell(rss['master_mib'])} MiB (a worker's pages shared with others count in each).", ""]


def _policy_note(results: Mapping) -> str:
    """Which policy served and the span floor it gave (a report before either was recorded says neither)."""
    policy = f"policy `{results['policy']}`" if results.get("policy") else "the bundle's policy"
    floor = results.get("span_floor")
    return policy if floor is None else f"{policy}, span floor {floor:g}"


def write_load_test(out: str | Path, **options) -> tuple[Path, dict]:
    """Run the load test and write ``out`` (Markdown) and its ``.json`` twin; return the path and results."""
    results = run_load_test(**options)
    return write_report(out, load_test_markdown(results), results), results


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/bench_service.md"), show_default=True, help="Markdown report; the JSON twin goes next to it.")
@click.option("--model", type=click.Path(exists=True, path_type=Path), default=None, help="Bundle to serve (default: the committed bundle).")
@click.option("--requests", "requests_per_level", type=click.IntRange(min=1), default=REQUESTS_PER_LEVEL, show_default=True, help="One-comment requests per concurrency level.")
@click.option("--batch-requests", type=click.IntRange(min=1), default=BATCH_REQUESTS, show_default=True, help=f"{BATCH_SIZE}-comment requests.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Data directory for realistic texts (default: $MODERATION_DATA_DIR or ../shared/data).")
@click.option("--threads", type=click.IntRange(min=1), default=THREADS, show_default=True, help="Threads per server worker (1 = sync workers).")
@click.option("--encoder-mode", type=click.Choice(MODES), default=None,
              help="Serve an encoder bundle in this mode (default: the bundle's own; moderate serve --encoder-mode).")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Serve with this policy file (the server's POLICY: a site's thresholds and [spans] floor; default: the bundle's).")
def main(out: Path, model: Path | None, requests_per_level: int, batch_requests: int, data_dir: Path | None, threads: int,
         encoder_mode: str | None, policy: Path | None) -> None:
    """Load-test a real server on loopback and write the report; exit 1 if any request failed."""
    try:
        path, results = write_load_test(out, model=model, requests_per_level=requests_per_level, batch_requests=batch_requests, data_dir=data_dir,
                                        threads=threads, encoder_mode=encoder_mode, policy=policy)
    except LoadTestError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path} and {path.with_suffix('.json')}")
    target = results["target"]
    click.echo(f"p99 at concurrency {TARGET_CONCURRENCY}: {target['value_ms']} ms (target < {TARGET_P99_MS:.0f} ms, {'met' if target['met'] else 'missed'})")
    if results["errors"]["client_seen"] or results["errors"]["server_5xx"]:
        raise click.ClickException(f"{results['errors']} errors during the load test; see the report")


if __name__ == "__main__":
    main()
