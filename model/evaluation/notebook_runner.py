"""Run the notebooks: Jupytext percent scripts in, parameters injected papermill-style, executed copies out.

``make notebooks`` (``python -m model.evaluation.notebook_runner``) runs them all in full; the tests run them on tiny
data by overriding the parameters. The notebooks are kept as ``notebooks/NN_name.py`` (Jupytext percent
format, reviewable as text); each has one cell tagged ``parameters``, and the values given here are
written into a cell tagged ``injected-parameters`` right after it, as papermill does.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = ("01_data", "02_train", "03_evaluate", "04_thresholds", "05_retrain_with_site_data")
DEFAULT_OUT = PROJECT_ROOT / "reports" / "notebooks"
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
KERNEL_NAME = "python3"
CELL_TIMEOUT_SECONDS = 6 * 3600
"""A full run trains on every public set: one cell may take most of an hour on two cores."""
STARTUP_TIMEOUT_SECONDS = 120


FAILED_SUFFIX = ".failed.ipynb"
"""Suffix of the copy a failed run leaves next to its output (removed by the next good run)."""
BUNDLE_PARAMETERS = ("bundle", "old_bundle")
"""Parameters naming a bundle a notebook reads (03 and 04: ``bundle``, 05: ``old_bundle``); by default 02's output."""
CANDIDATE_NOTEBOOK = "02_train"
"""The notebook that writes the bundle the later ones read by default (its ``version`` parameter names it)."""


class NotebookError(RuntimeError):
    """A notebook that cannot be prepared (no parameters cell, unknown parameter) or whose cell raised."""


def _this_python_kernel_manager(socket_dir: str | Path):
    """A kernel manager that starts ``ipykernel`` with this interpreter, whatever kernels are installed.

    The default lookup prefers a ``python3`` kernelspec installed for the user or system, which may belong
    to another Python without this project; the notebooks must run in this environment.

    The kernel talks over Unix sockets in ``socket_dir`` (ZeroMQ's IPC transport), not loopback TCP: only this user
    can reach them, and ipykernel has no reason to warn that the kernel runs "over TCP without encryption". The
    folder is the run's own (the socket names end in 1, 2, 3...; two runs sharing one would take each other's).
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPythonKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ThisPythonKernelSpecs(), transport="ipc",
                              ip=str(Path(socket_dir).absolute() / "kernel"))  # absolute: the kernel runs in ``cwd``


def read_notebook(path: str | Path):
    """Read a Jupytext script (or an ``.ipynb``) into a notebook node."""
    import jupytext

    return jupytext.read(Path(path))


def inject_parameters(notebook, parameters: Mapping[str, object]):
    """Insert ``name = value`` lines after the cell tagged ``parameters``; unknown names are refused.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
    parameters : mapping
        Values with a ``repr`` that Python reads back (str, int, float, bool, None, lists of those).

    Returns
    -------
    nbformat.NotebookNode
        The same notebook, changed in place.
    """
    import nbformat

    position = _parameters_cell(notebook)
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise NotebookError(f"unknown parameter(s) {unknown}: the parameters cell declares {sorted(declared)}")
    if parameters:
        source = "# Parameters\n" + "".join(f"{name} = {value!r}\n" for name, value in parameters.items())
        injected = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
        notebook.cells.insert(position + 1, injected)
    return notebook


def _parameters_cell(notebook) -> int:
    positions = [i for i, cell in enumerate(notebook.cells) if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]
    if len(positions) != 1:
        raise NotebookError(f"a notebook needs exactly one cell tagged {PARAMETERS_TAG!r}, found {len(positions)}")
    return positions[0]


def parameter_values(notebook) -> dict[str, object]:
    """The values of the parameters the notebook runs with: its ``parameters`` cell's, then the injected ones.

    Only literal values are read (a value computed from others is left out).
    """
    values: dict[str, object] = {}
    for cell in notebook.cells:
        if {PARAMETERS_TAG, INJECTED_TAG} & set(cell.get("metadata", {}).get("tags", [])):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    with contextlib.suppress(ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def missing_bundle_hint(notebook, ename: str, evalue: str) -> str:
    """What to do, in the runner's terms, when a notebook stopped on a bundle that is not there; "" for other errors.

    By default 03, 04 and 05 read the bundle 02 writes (``bundles/candidate``): run 02 first, or name another bundle.
    """
    if ename != "BundleError" or not (evalue.startswith("model bundle ") and " not found" in evalue):
        return ""
    values = parameter_values(notebook)
    name = next((name for name in BUNDLE_PARAMETERS if name in values), None)
    if name is None:
        return ""
    other = f"`-p {name}=PATH` (a bundle folder or a version under bundles/; `-p {name}=null` for the served one)"
    written = parameter_values(read_notebook(NOTEBOOKS_DIR / f"{CANDIDATE_NOTEBOOK}.py")).get("version")
    if values[name] is not None and values[name] == written:
        return (f"; {name}={values[name]!r} is what notebook {CANDIDATE_NOTEBOOK} writes: run {CANDIDATE_NOTEBOOK} first "
                f"(`.venv/bin/python -m model.evaluation.notebook_runner {CANDIDATE_NOTEBOOK} --data-dir DIR`), or pass {other}")
    return f"; pass {other} naming a bundle that exists"


def declared_parameters(notebook) -> set[str]:
    """Names assigned at the top level of the notebook's ``parameters`` cell."""
    source = notebook.cells[_parameters_cell(notebook)].source
    return {line.split("=", 1)[0].strip() for line in source.splitlines() if "=" in line and not line.startswith((" ", "#"))}


def run_notebook(path: str | Path, out_path: str | Path | None = None, parameters: Mapping[str, object] | None = None,
                 cwd: str | Path = PROJECT_ROOT, timeout: int = CELL_TIMEOUT_SECONDS):
    """Execute one notebook with this Python's kernel.

    A cell that raises stops the run with ``NotebookError`` naming the error; the executed part, error output
    included, is written next to ``out_path`` as ``NAME.failed.ipynb`` (``out_path`` keeps the last good run).

    Parameters
    ----------
    path : str or Path
        ``notebooks/NN_name.py`` (or an ``.ipynb``).
    out_path : str or Path, optional
        Where to write the executed notebook (``.ipynb``, outputs kept).
    parameters : mapping, optional
        Overrides of the parameters cell.
    cwd : str or Path
        The kernel's working directory (relative paths in parameters start here).
    timeout : int
        Seconds one cell may run.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # the current Jupyter paths, without a migration warning
    notebook = inject_parameters(read_notebook(path), parameters or {})
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    from nbclient.exceptions import CellExecutionError

    groups: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix="notebook-kernel-") as socket_dir:  # private (0700), removed after
            km = _this_python_kernel_manager(socket_dir)
            client = NotebookClient(notebook, km=km, timeout=timeout, startup_timeout=STARTUP_TIMEOUT_SECONDS,
                                    resources={"metadata": {"path": str(cwd)}},
                                    on_notebook_start=lambda **_: groups.append(km.provisioner.pgid))
            client.execute()
    except CellExecutionError as error:
        where = ""
        if out_path is not None:  # keep what ran, error included, without overwriting the last good run
            failed = Path(out_path).with_suffix(FAILED_SUFFIX)
            failed.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, failed)
            where = f"; the notebook as far as it ran is in {failed}"
        hint = missing_bundle_hint(notebook, error.ename, error.evalue)
        raise NotebookError(f"{Path(path).stem} failed: {error.ename}: {error.evalue}{hint}{where}") from error
    finally:
        _end_kernel_group(groups)
    if out_path is not None:
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out_path)
        out_path.with_suffix(FAILED_SUFFIX).unlink(missing_ok=True)
    return notebook


def _end_kernel_group(groups: list[int]) -> None:
    """Stop what the kernel left running in its own process group (joblib's idle workers live for minutes)."""
    for pgid in groups:
        if pgid and pgid != os.getpgrp():
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def run_all(names: Sequence[str] = NOTEBOOKS, out_dir: str | Path = DEFAULT_OUT, parameters: Mapping[str, Mapping] | None = None,
            notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """Run notebooks in order, each with its own parameter overrides; return the executed copies' paths."""
    written = []
    for name in names:
        out_path = Path(out_dir) / f"{name}.ipynb"
        print(f"running {name} -> {out_path}", file=sys.stderr, flush=True)
        run_notebook(Path(notebooks_dir) / f"{name}.py", out_path, (parameters or {}).get(name, {}))
        written.append(out_path)
    return written


def _parameter(text: str) -> tuple[str, object]:
    """``name=value`` with a JSON value (``n=3``, ``path="x"``, ``x=null``), or a plain string if not JSON."""
    name, _, value = text.partition("=")
    if not name or not _:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def _absolute(path: str | None) -> str | None:
    """A path typed relative to the caller's folder, made absolute: the kernel runs in the project folder."""
    return None if path is None else str(Path(path).resolve())


def _policy_problem(path: str | None) -> str | None:
    """Why the ``--policy`` file cannot be used (``model.policy.load_policy``'s reason), or None: it is fine or not given."""
    if path is None:
        return None
    from model.policy import PolicyError, load_policy

    try:
        load_policy(path)
    except PolicyError as error:
        return f"--policy: {error}; give the policy file your server applies (its POLICY setting), or leave --policy out"
    return None


def _site_data_problem(path: str | None, names: list[str]) -> str | None:
    """Why the ``--site-data`` file cannot be read by the notebooks run that read it (04, 05), or None."""
    if path is None or not {"04_thresholds", "05_retrain_with_site_data"} & set(names):
        return None
    from model.training.data import DataError
    from model.training.site_data import read_site_data

    try:
        read_site_data(path)
    except DataError as error:
        return f"--site-data: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m model.evaluation.notebook_runner [--data-dir D] [--site-data F] [--policy F] [-p NAME=VALUE] [NAME ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="notebooks to run (default: all, in order)")
    parser.add_argument("--data-dir", default=None,
                        help="public data directory, for every notebook (default: $MODERATION_DATA_DIR, else ../shared/data from the project folder)")
    parser.add_argument("--site-data", default=None, help="a site's labelled comments, for 04 and 05 (default: a public stand-in)")
    parser.add_argument("--policy", default=None,
                        help="the site's policy file for 04 to start from (default: the bundle's own policy)")
    parser.add_argument("-p", "--parameter", dest="parameters", action="append", type=_parameter, default=[],
                        help="NAME=VALUE (VALUE read as JSON) for each notebook run that declares NAME; repeatable")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}: choose from {', '.join(NOTEBOOKS)}")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():  # refused here, not in the first notebook's cell
        parser.error(f"--data-dir {args.data_dir}: no such folder; give the public data folder (it holds hostility/ and claims/)")
    policy_problem = _policy_problem(args.policy)
    if policy_problem is not None:  # 04 reads it after 01-03 ran (25 minutes of `make notebooks`): refused here
        parser.error(policy_problem)
    site_problem = _site_data_problem(args.site_data, args.names)
    if site_problem is not None:  # the same: a mistyped --site-data stopped 04 after 01-03 had run
        parser.error(site_problem)
    optional = {"data_dir": _absolute(args.data_dir), "site_data": _absolute(args.site_data),
                "policy": _absolute(args.policy)}
    declared = {name: declared_parameters(read_notebook(NOTEBOOKS_DIR / f"{name}.py")) for name in args.names}
    # -p goes to the notebooks that declare the name; a name none of them declares is a typo, refused before any run.
    undeclared = sorted(set(dict(args.parameters)) - set().union(*declared.values()))
    if undeclared:
        parser.error(f"no notebook run here declares {', '.join(undeclared)}: "
                     + "; ".join(f"{name}: {', '.join(sorted(names))}" for name, names in declared.items()))
    parameters = {}
    for name in args.names:
        given = {key: value for key, value in optional.items() if value is not None} | dict(args.parameters)
        parameters[name] = {key: value for key, value in given.items() if key in declared[name]}
    try:
        run_all(args.names, args.out, parameters)
    except NotebookError as error:  # a notebook failed: one line saying so, not the command's usage (it was used right)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
