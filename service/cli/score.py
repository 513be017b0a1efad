"""``moderate score``: one text, or a whole table streamed through the scorer."""

from __future__ import annotations

import functools
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from service.cli.common import ENCODER_MODES, EXIT_BAD_INPUT, EXIT_INTERRUPTED, BadInput, load_scorer_or_fail, os_error_message
from service.config import Defaults
from service.quick_exit import freeze_at_exit

EXIT_NOTHING_SCORED = 3
EXIT_TERMINATED = 128 + signal.SIGTERM
"""Exit status of ``score`` stopped by SIGTERM (143, as a shell reports a process it ended)."""
EXIT_STATUSES = f"""\b
Exit status:
  0    done (rows that could not be parsed, if any, are counted in the
       summary and listed in OUTPUT.rejects)
  {EXIT_BAD_INPUT}    bad input or usage, refused before scoring (a missing file or
       column, an OUTPUT that exists without --overwrite, a bad bundle),
       or a run stopped by an error such as a full disk (the message says
       whether --resume continues it)
  {EXIT_NOTHING_SCORED}    no row could be parsed, so none was scored (OUTPUT.rejects
       lists them all)
  {EXIT_INTERRUPTED}  interrupted by Ctrl-C, or {EXIT_TERMINATED} by SIGTERM (kill, timeout,
       systemctl stop, docker stop); --resume continues
"""


class Terminated(KeyboardInterrupt):
    """SIGTERM during ``score`` (``kill``, ``timeout``, ``systemctl stop``, ``docker stop``): it stops the command as
    Ctrl-C does, the scored chunks kept, and what catches Ctrl-C (``interrupted``) catches it too."""


class NothingScored(click.ClickException):
    """Every row read was set aside as unparseable: printed after the summary, exit status 3."""

    exit_code = EXIT_NOTHING_SCORED


TABLE_OPTIONS = ("text_column", "id_column", "spreadsheet_safe", "chunk_size", "jobs", "resume", "overwrite", "engine",
                 "scheduler")
"""Options of ``score`` that shape a table run, which ``--text`` has none of."""


def _refuse_table_options_with_text() -> None:
    """A usage error naming the table options given beside ``--text``: they were silently ignored, so a user who
    passed --text-column or --jobs believed they had an effect."""
    context = click.get_current_context()
    given = [parameter.opts[-1] for parameter in context.command.params
             if parameter.name in TABLE_OPTIONS
             and context.get_parameter_source(parameter.name) is click.core.ParameterSource.COMMANDLINE]
    if given:
        one = len(given) == 1
        raise click.UsageError(f"{', '.join(given)} {'is' if one else 'are'} for INPUT with -o OUTPUT, not for --text; "
                               f"leave {'it' if one else 'them'} out")


def _stops_reported(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator of ``score``: SIGTERM stops it as Ctrl-C does (``Terminated``), and either, wherever it lands, prints
    one line and exits 130 or 143 (click said ``Aborted!``, status 1, to a Ctrl-C while a table run started or during
    ``--text``). A table run's scoring says itself what it kept (``_score_archive``); before it nothing was."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with _sigterm_stops_like_ctrl_c():
            try:
                command(*args, **kwargs)
            except (KeyboardInterrupt, SystemError) as error:
                # Before a table run scores (or after its summary): nothing of this run's was kept; a --resume's
                # earlier work stays where it was, which this line must not deny.
                nothing = kwargs.get("text") is None and not kwargs.get("resume")
                _exit_stopped(error, " Nothing was kept." if nothing else "")

    return wrapper


def _exit_stopped(error: BaseException, said: str) -> NoReturn:
    """Ctrl-C or SIGTERM (``_interrupt``) behind ``error``: print "Interrupted." or "Terminated." and ``said`` on one
    line, and exit 130 or 143; any other ``error`` is raised again."""
    stop = _interrupt(error)
    if stop is None:
        raise error
    click.echo(f"{_stopped(stop)}{said}", err=True)
    raise click.exceptions.Exit(_stop_status(stop)) from None


@contextmanager
def _sigterm_stops_like_ctrl_c() -> Iterator[None]:
    """Inside, the first SIGTERM raises ``Terminated`` in the main thread; the handler before is put back at the end
    (CliRunner runs commands in the caller's process). Left alone where SIGTERM is not at its default (ignored on
    purpose, or handled by whoever runs the command) or off the main thread, which cannot set a handler."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    raised: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        if not raised:  # once: another SIGTERM while the run winds down must not cut its clean-up short
            raised.append(signum)
            raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(stop: KeyboardInterrupt) -> str:
    return "Terminated." if isinstance(stop, Terminated) else "Interrupted."


def _stop_status(stop: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED


@click.command(epilog=EXIT_STATUSES)
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output table (.csv, .jsonl or .parquet).")
@click.option("--text", "text", help="Score this one text and print its JSON result instead of a table; - reads the text "
                                     "from standard input (one final line end dropped).")
@click.option("--text-column", default="text", show_default=True, help="Column holding the comment text.")
@click.option("--id-column", help="Column identifying each comment; checked to exist when given.")
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    envvar="MODERATION_MODEL",
    help="Bundle directory or version [default: $MODERATION_MODEL, else the MODERATION_CONFIG file's model, else the "
         "committed bundle].",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path),
    metavar="FILE",
    envvar="MODERATION_POLICY",
    help="Decision policy TOML file applied instead of the bundle's own policy.toml, such as a site's tuned thresholds "
         "(notebooks/04_thresholds writes one): give the file the server applies (its POLICY setting) to decide as it "
         "does. A --resume must apply the same one. [default: $MODERATION_POLICY, else the MODERATION_CONFIG file's policy, else the "
         "bundle's policy.toml]",
)
@click.option(
    "--encoder-mode",
    type=ENCODER_MODES,
    help="For a bundle with an encoder. encoder: the encoder reads every comment (best ranking); cascade: the "
         "TF-IDF heads score every comment and the encoder only those whose decision could change, about four "
         "times faster and worse at ranking (MODEL_CARD.md). [default: $MODERATION_ENCODER_MODE, else the "
         "MODERATION_CONFIG file's encoder_mode, else the bundle's own]",
)
@click.option(
    "--spans/--no-spans",
    default=False,
    show_default=True,
    help="Add the span and text behind each reason of a table, as the API does (slower: reports/bench.md). "
         "A threat_phrase reason always has its span.",
)
@click.option(
    "--spreadsheet-safe",
    is_flag=True,
    help="For a .csv OUTPUT to open in Excel, LibreOffice or Google Sheets: a cell starting with =, +, -, @, a tab or a "
         "carriage return (a signed number excepted) gets a ' before it, so that the spreadsheet shows it as text "
         "instead of running it as a formula (a comment can be one: =HYPERLINK(...)), and the file starts with a UTF-8 "
         "byte-order mark, so that Excel reads accents right. Those cells then differ from INPUT's: without it every "
         "cell is written exactly, for a program to read (docs/archive-scoring.md).",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="Text encoding of a .csv or .jsonl INPUT [default: utf-8, a byte-order mark skipped]. A Windows or Excel "
         "export is most often cp1252 (Windows-1252); latin-1 is ISO-8859-1. A file that is not UTF-8 at all is "
         "refused without it, naming the first line and byte that are not. UTF-16 is not read: re-encode it as UTF-8.",
)
@click.option(
    "--html",
    is_flag=True,
    help="The texts are HTML (a CMS's comment bodies): the text a reader sees is scored, tags dropped and entities "
         "decoded, as the Coral and Perspective endpoints read HTML. OUTPUT gets a visible_text column holding it (--text: "
         "a visible_text field): the spans of the reasons count characters of visible_text, not of the HTML.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    show_default=f"the SCORE_CHUNK_ROWS setting, {Defaults.SCORE_CHUNK_ROWS}",
    help="Rows read, scored and written at a time.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes scoring each chunk side by side; each loads the model (a few seconds, its own memory). "
         "Use the number of cores for a large archive. An encoder already runs on the usable cores, shared among "
         "the processes ($MODERATION_ENCODER_THREADS sets its threads per process); more processes also spread "
         "the rest of the scoring. With --engine dask and no --scheduler: local Dask workers.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run of the same command: chunks already scored are kept, not scored again. "
         "With no interrupted run: nothing to do when OUTPUT is complete and up to date (an earlier run of the same "
         "command on the same INPUT and model wrote it, and it is unchanged); an OUTPUT an earlier run wrote otherwise "
         "is refused, unless --overwrite; with no OUTPUT either, it scores from the start and says so.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an OUTPUT (or OUTPUT.rejects) that an earlier run wrote; without it one is refused before anything "
         "is read. The old file stays until its replacement is complete. In a folder OUTPUT, the parts an earlier run "
         "wrote that INPUT no longer has are then removed; a Parquet file no run wrote there is refused, never "
         "removed. --resume needs no --overwrite to continue an interrupted run.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this process (and --jobs workers); dask: partitions scored on a Dask cluster "
         "(.venv/bin/pip install -e '.[dask]'; make run and make test install it; docs/archive-scoring.md).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler to use with --engine dask (e.g. tcp://10.0.0.5:8786); without it a LocalCluster "
         "of --jobs workers is started.",
)
@_stops_reported
def score(
    input_path: Path | None,
    output: Path | None,
    text: str | None,
    text_column: str,
    id_column: str | None,
    model: Path | None,
    policy: Path | None,
    encoder_mode: str | None,
    spans: bool,
    spreadsheet_safe: bool,
    encoding: str | None,
    html: bool,
    chunk_size: int | None,
    jobs: int,
    resume: bool,
    overwrite: bool,
    engine: str,
    scheduler: str | None,
) -> None:
    """Score every comment of INPUT into OUTPUT, or one --text.

    OUTPUT keeps every column and row of INPUT, in order, and adds one score column per
    attribute (toxicity, ...), decision and reasons (a JSON list). Empty, missing or non-text
    values are approved with reason "empty". Formats follow the file extensions: .csv, .jsonl,
    .parquet; a folder of Parquet parts gives a folder of Parquet parts of the same names.
    Rows that cannot be parsed are listed with their line numbers in OUTPUT.rejects.
    A CSV OUTPUT holds every cell as read, a comment that is a spreadsheet formula too: for a file to open in a
    spreadsheet, pass --spreadsheet-safe.
    An existing OUTPUT is replaced only with --overwrite. An interrupted run continues with --resume.
    """
    model, policy, default_encoder_mode = _configured_scoring(model, policy, encoder_mode)
    if text is not None:
        if input_path is not None or output is not None:
            raise click.UsageError("give either INPUT with -o OUTPUT, or --text, not both")
        if encoding is not None:
            raise click.UsageError("--encoding is for an INPUT file; --text is read as the command line gives it")
        _refuse_table_options_with_text()
        if text == "-":  # `echo "..." | moderate score --text -` scored the one character "-"
            text = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise BadInput("--text is not valid UTF-8; pass UTF-8 text") from error
        shown = {}
        if html:  # scored as a table's --html texts are: the spans count characters of visible_text
            from service.html_text import html_to_text

            text = html_to_text(text)
            shown = {"visible_text": text}
        _warn_about_policy(policy)
        with _collector_paused():
            # The one text pays the one-off costs, once.
            scorer = load_scorer_or_fail(model, warm_up=False, encoder_mode=encoder_mode, policy_path=policy,
                                         default_encoder_mode=default_encoder_mode)
            decision = scorer.moderate([text])[0]
        click.echo(json.dumps({"model_version": scorer.model_version, **decision.to_dict(), **shown}, ensure_ascii=False))
        return
    if input_path is None:
        raise click.UsageError("missing INPUT (or use --text)")
    if output is None:
        raise click.UsageError("missing -o/--output for INPUT")
    if scheduler is not None and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if chunk_size is None:
        chunk_size = int(_settings()["SCORE_CHUNK_ROWS"])
    _warn_about_policy(policy)
    _score_archive(input_path, output, text_column, id_column, model, chunk_size, spans, jobs, resume, engine, scheduler,
                   encoder_mode, overwrite, spreadsheet_safe, encoding, html, policy, default_encoder_mode)


def _warn_about_policy(policy: Path | None) -> None:
    """Print the warnings about the ``--policy`` file (``model.policy.span_floor_warnings``) to stderr, once, before
    anything is scored; a file that cannot be used is left to be refused where it is read, as before."""
    if policy is None:
        return
    from model.policy import policy_file_warnings

    for warning in policy_file_warnings(policy):
        click.echo(f"Warning: {warning}", err=True)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection inside, nor at the interpreter's exit: ``--text`` loads the model, scores once and exits.

    A full collection walks the millions of objects the model is made of (about 0.15 s each, three or four while it
    loads and first scores; about 1 s for the final one at exit) and frees nothing the process needs: at exit,
    ``gc.freeze`` leaves them to the operating system.
    """
    freeze_at_exit()  # once, however often the command runs in one process (CliRunner)
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:  # CliRunner runs commands inside the caller's process
            gc.enable()


def _settings():
    """The settings (``service.config.load_config``: ``MODERATION_*`` and the ``MODERATION_CONFIG`` file); BadInput if
    one is invalid."""
    from service.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as error:
        raise BadInput(error) from error


def _configured_scoring(model: Path | None, policy: Path | None, encoder_mode: str | None
                        ) -> tuple[Path | None, Path | None, str | None]:
    """``--model`` and ``--policy``, each not given taken from the server's settings (``MODEL``, ``POLICY``), and the
    settings' ``ENCODER_MODE`` as the default encoder mode (``model.bundle.chosen_encoder_mode``'s ``default``, which
    a bundle without an encoder ignores, as the server takes it), so that an archive scored beside a server whose
    ``MODERATION_CONFIG`` file names them is decided as the server decides. Read only when one of the three options is
    missing: without a ``MODERATION_CONFIG`` file, nothing is read (the variables are the options' own; ``load_config``
    imports Flask, which ``--text`` does without) and the default mode is ``None``."""
    from service.config import CONFIG_FILE_ENV

    if None not in (model, policy, encoder_mode) or not os.environ.get(CONFIG_FILE_ENV):
        return model, policy, None
    settings = _settings()

    def configured(given, name: str):
        return given if given is not None or settings[name] is None else Path(settings[name])

    return configured(model, "MODEL"), configured(policy, "POLICY"), settings["ENCODER_MODE"]


def _score_archive(
    input_path: Path,
    output: Path,
    text_column: str,
    id_column: str | None,
    model: Path | None,
    chunk_size: int,
    with_spans: bool,
    jobs: int,
    resume: bool,
    engine: str,
    scheduler: str | None,
    encoder_mode: str | None = None,
    overwrite: bool = False,
    spreadsheet_safe: bool = False,
    encoding: str | None = None,
    html: bool = False,
    policy: Path | None = None,
    default_encoder_mode: str | None = None,
) -> None:
    """Run ``service.archive.run_archive`` and print its summary; errors and Ctrl-C say how to resume.

    An OUTPUT an earlier run wrote is refused (before the model loads) unless ``overwrite``, or ``resume``: a run
    stopped after writing some of its parts continues over them. NothingScored when every row read was set aside.
    """
    from model.bundle import BundleError
    from model.policy import PolicyError
    from service.archive import plan_job, run_archive, summary_lines
    from service.spool import SpoolError
    from service.tables import TableError

    spools: list = []
    try:
        job = plan_job(input_path, output, overwrite=overwrite or resume, text_column=text_column,
                       id_column=id_column, chunk_rows=chunk_size, with_spans=with_spans,
                       spreadsheet_safe=spreadsheet_safe, encoding=encoding, html=html)
        outcome = run_archive(job, model, resume, engine, jobs, scheduler, on_spool=spools.append,
                              encoder_mode=encoder_mode, overwrite=overwrite, policy_path=policy,
                              default_encoder_mode=default_encoder_mode)
    except (KeyboardInterrupt, SystemError) as error:  # Ctrl-C or SIGTERM (Terminated)
        _exit_stopped(error, f" {_kept(spools)}")
    except TableError as error:  # the data or the chosen format: the same run would meet it again
        raise BadInput(f"{error}{'. ' + _kept(spools, again=False) if spools else ''}") from error
    except (BundleError, SpoolError, PolicyError) as error:  # BundleError: also a worker that could not load it
        raise BadInput(f"{error}{'. ' + _kept(spools) if spools else ''}") from error
    except OSError as error:  # a full disk, a file that went away
        raise BadInput(f"{os_error_message(error)}{'. ' + _kept(spools) if spools else ''}") from error
    if outcome.up_to_date:
        click.echo(f"Nothing to resume: {job.output} is complete and up to date (an earlier run of this command on the "
                   "same INPUT, model and options wrote it, and it is unchanged); nothing to do. To score it again, pass "
                   "--overwrite instead of --resume.", err=True)
        return
    for line in summary_lines(job, outcome.tally, outcome.rejects, outcome.seconds, outcome.rows_this_run):
        click.echo(line, err=True)
    if outcome.tally.read and not outcome.tally.scored:
        first = outcome.rejects[0]
        raise NothingScored(
            f"nothing was scored: all {outcome.tally.read:,} rows read could not be parsed (the first: {first['part']} "
            f"line {first['line']}: {first['error']}) and were set aside in {job.rejects_path}, so {job.output} holds no "
            "scored row (an earlier run's output file is left as it was); fix INPUT, or check that it is the file you "
            "meant, then run again with --overwrite"
        )


def interrupted(error: BaseException | None) -> bool:
    """Whether ``error`` is Ctrl-C (or SIGTERM: ``Terminated``) or was caused by it: a KeyboardInterrupt raised inside a
    compiled kernel's call (``model.kernels``) reaches us as numba's ``SystemError("... returned a result with an
    exception set")`` chained to it."""
    return _interrupt(error) is not None


def _interrupt(error: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (``Terminated`` for SIGTERM) that ``error`` is or was caused by, if any (``interrupted``)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _kept(spools: list, again: bool = True) -> str:
    """What became of the work: kept for --resume when running again can succeed (``again``), else where it is."""
    if not spools or not spools[0].root.exists():
        return "Nothing was kept."
    spool = spools[0]
    if again:
        return (f"{spool.finished().scored:,} rows scored so far are kept in {spool.root}; "
                "run the same command with --resume to continue")
    return (f"The same command would stop here again: fix the input, or choose another output format, then delete "
            f"{spool.root} ({spool.finished().scored:,} rows scored so far) and run it again")
