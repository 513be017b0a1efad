"""Save and load a model bundle: ``model.joblib`` + ``manifest.json`` + ``policy.toml`` in one folder.

A joblib file is a pickle, and unpickling runs code: ``load_bundle`` checks the file's SHA-256 against
the manifest and the scikit-learn version before it unpickles anything, and refuses otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import joblib
import sklearn

from model.policy import Policy, PolicyError, load_policy

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
POLICY_FILE = "policy.toml"
BUNDLES_DIR = Path(__file__).resolve().parents[1] / "bundles"
BUNDLES_DIR_ENV = "MODERATION_BUNDLES_DIR"
"""Overrides ``BUNDLES_DIR``: where versioned bundles live side by side, with their ``CURRENT`` file."""
CURRENT_FILE = "CURRENT"
"""``bundles/CURRENT`` names the bundle folder served by default."""
PARTIAL_FOLDER_PATTERN = re.compile(r"\.(?P<version>.+)\.(?P<kind>partial|replaced)-(?P<pid>\d+)")
"""The hidden folders ``model.versions.written_whole`` makes beside a bundle (``hidden_work_folder``)."""
JOBLIB_COMPRESS = 3
ENCODER_THREADS_ENV = "MODERATION_ENCODER_THREADS"
"""onnxruntime intra-op threads of a bundle's encoder, per process (default ``model.encoder.DEFAULT_THREADS``)."""
ENCODER_MODE_ENV = "MODERATION_ENCODER_MODE"
"""``encoder`` or ``cascade``: overrides an encoder bundle's own mode (empty = the bundle's)."""
PROBE_TOLERANCE = 1e-6
"""Largest difference allowed between the manifest's probe scores and this machine's (a bundle without encoder)."""
ENCODER_PROBE_TOLERANCE = 0.05
"""The same for a bundle with an int8 encoder. onnxruntime's int8 matrix products take other kernels on other CPUs
(with AVX-512 VNNI, or AVX2 only), and their results differ: the probes of bundles 2.2.0-2.5.0, recorded on a VNNI
machine, are 0.019-0.029 away on an AVX2-only AMD EPYC (2.6.0's were recorded on that AVX2 one). A wrong graph,
tokenizer or library moves them further; a swapped file is refused earlier by its SHA-256."""


def probe_tolerance(manifest: dict) -> float:
    """How far this machine's probe scores may lie from those a bundle's manifest recorded."""
    return ENCODER_PROBE_TOLERANCE if "encoder" in manifest else PROBE_TOLERANCE


REQUIRED_KEYS = ("model_version", "attributes", "model_sha256", "versions")
MANIFEST_TYPES = {"model_version": str, "attributes": list, "model_sha256": str, "policy_sha256": str, "versions": dict,
                  "model_file": str, "files": dict, "encoder": dict, "test_metrics": (dict, type(None)),
                  "site_data": (dict, type(None)), "encoder_training": (dict, type(None))}
"""The JSON type of each manifest entry that code reads into: another one (an entry edited by hand) is refused by
``read_manifest`` with the file's name, not met later as a traceback."""


class BundleError(RuntimeError):
    """A bundle that cannot be loaded; the message says which file and what to do."""


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions that a bundle depends on."""
    import numpy
    import scipy

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def temporary_beside(path: Path) -> Path:
    """``.<name>.<pid>.partial`` beside ``path``: where this process writes a file before renaming it to ``path`` (a
    killed process leaves it; ``remove_abandoned_temporaries`` removes those of processes gone)."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


TEMPORARY_PATTERN = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.partial")
"""A ``temporary_beside`` file's name: the target's name and the writing process's id."""


def remove_abandoned_temporaries(targets: Iterable[Path]) -> None:
    """Remove the ``temporary_beside`` files of ``targets`` that killed processes left (kill -9 and the OOM killer skip
    the clean-up), listing each folder once; one whose process still runs (another run writing the same target) is
    left alone. A temporary folder (``moderate eval``'s staged plots) goes with what it holds; a symlink is left."""
    names: dict[Path, set[str]] = {}
    for target in targets:
        names.setdefault(target.parent, set()).add(target.name)
    for folder, wanted in names.items():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = TEMPORARY_PATTERN.fullmatch(path.name)
            if match is None or match["name"] not in wanted or path.is_symlink() or process_is_running(int(match["pid"])):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file():
                path.unlink(missing_ok=True)


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed over it: a reader (a worker starting, a
    command listing bundles) sees the old content or the new, never half of it.

    An OSError names ``path`` (not the temporary, which is removed), e.g. ``bundles/CURRENT: Is a directory``.
    """
    partial = temporary_beside(path)
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from error
    finally:
        partial.unlink(missing_ok=True)


def bundles_dir() -> Path:
    """The folder of versioned bundles: ``$MODERATION_BUNDLES_DIR``, else the project's ``bundles/``."""
    return Path(os.environ.get(BUNDLES_DIR_ENV) or BUNDLES_DIR)


def hidden_work_folder(target: Path, kind: str) -> Path:
    """``.<name>.<kind>-<pid>`` beside ``target`` (``kind``: partial or replaced), which ``PARTIAL_FOLDER_PATTERN`` matches."""
    return target.parent / f".{target.name}.{kind}-{os.getpid()}"


def process_is_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 is sent to nobody; PermissionError means it exists)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process can have
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def abandoned_partial_folders(root: str | Path) -> list[Path]:
    """The folders under ``root`` that a killed ``moderate train`` left (its process is gone), sorted by name.

    ``model.versions.written_whole`` writes a bundle in ``.<version>.partial-<pid>`` and moves a replaced one to
    ``.<version>.replaced-<pid>`` before removing it; a SIGKILL (the OOM killer, ``kill -9``) skips the clean-up.
    A folder whose process still runs (another training in progress) is never returned, nor a replaced bundle whose
    folder holds no bundle (killed between the two renames, it is the only copy).

    Parameters
    ----------
    root : str or Path
        A folder of bundles; a missing one (or a file) holds none.

    Returns
    -------
    list of Path
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = ((path, PARTIAL_FOLDER_PATTERN.fullmatch(path.name)) for path in root.iterdir())
    return sorted(path for path, match in found if match is not None and path.is_dir() and not path.is_symlink()
                  and (match["kind"] == "partial" or (root / match["version"] / MANIFEST_FILE).is_file())
                  and not process_is_running(int(match["pid"])))


def read_current(current: Path) -> str:
    """The version name the file ``current`` (a ``bundles/CURRENT``) holds, stripped.

    Raises FileNotFoundError when there is no such file (nor a symlink's target), and BundleError when it is a folder
    or a symlink to one, saying what ``CURRENT`` should be.
    """
    try:
        return current.read_text(encoding="utf-8").strip()
    except IsADirectoryError:
        raise BundleError(current_is_a_folder(current)) from None


def current_is_a_folder(current: Path) -> str:
    """What ``CURRENT`` should be, when it is a folder or a symlink to one, and how to make it so."""
    should_be = f"{CURRENT_FILE} must be a file holding the version name of the bundle to serve (e.g. 1.3.0)"
    if current.is_symlink():
        target = os.readlink(current)
        named = current.parent / target
        is_a_bundle_here = named.parent.resolve() == current.parent.resolve() and (named / MANIFEST_FILE).is_file()
        version = named.name if is_a_bundle_here else "VERSION"  # the bundle it points to, when `use` can name it
        which = "" if is_a_bundle_here else f" (VERSION: the name of a bundle folder in {current.parent})"
        return f"{current} is a symlink to the folder {target}, but {should_be}: replace it with `moderate models use {version}`{which}"
    # Not `moderate models list` to see the versions: it reads CURRENT too, and stops here.
    return (f"{current} is a folder, but {should_be}: move the folder out of {current.parent}, then choose the bundle "
            f"with `moderate models use VERSION` (VERSION: the name of a bundle folder in {current.parent})")


def default_bundle_path() -> Path:
    """The bundle named by ``bundles/CURRENT`` (read on every call, so a new selection is seen at once)."""
    root = bundles_dir()
    current = root / CURRENT_FILE
    try:
        name = read_current(current)
    except FileNotFoundError:
        raise BundleError(f"{current} not found: choose the bundle to serve with `moderate models use VERSION` "
                          "(`moderate models list` shows them) or pass --model PATH") from None
    choose = "choose the bundle to serve with `moderate models use VERSION` (`moderate models list` shows them)"
    if not name:
        raise BundleError(f"{current} is empty: {choose}")
    if Path(name).name != name or name.startswith("."):  # edited by hand: a path, or a bundle still being written
        raise BundleError(f"{current} names {name!r}, which is not a folder name in {root}: {choose}")
    if not (root / name).exists():
        raise BundleError(f"{current} names {name!r}, but there is no {root / name} (a bundle removed, renamed or "
                          f"copied incompletely?): {choose}")
    return root / name


def resolve_bundle_path(path: str | Path | None = None) -> Path:
    """A bundle folder from a path, a version name under ``bundles/``, or ``None`` for ``bundles/CURRENT``."""
    if path is None:
        return default_bundle_path()
    folder = Path(path)
    if folder.name == MANIFEST_FILE:
        folder = folder.parent
    if not folder.is_dir() and folder.parent == Path(".") and (bundles_dir() / folder.name).is_dir():
        return bundles_dir() / folder.name
    return folder


@dataclass
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    manifest: dict
    model: object
    policy: Policy

    @property
    def version(self) -> str:
        """The model version from the manifest."""
        return self.manifest["model_version"]

    @property
    def attributes(self) -> tuple[str, ...]:
        """Attribute names in the order of the model's output columns."""
        return tuple(self.manifest["attributes"])


def save_bundle(model, out_dir: str | Path, manifest: dict, policy: Policy, files: dict[str, Path] | None = None) -> Path:
    """Write ``model``, its manifest (with every file's SHA-256 and library versions) and its policy.

    Parameters
    ----------
    model : fitted Pipeline
    out_dir : str or Path
        Folder to create or overwrite.
    manifest : dict
        At least ``model_version`` and ``attributes``; hashes and versions are added here.
    policy : Policy
    files : mapping of str to Path, optional
        Further files (an ONNX encoder, its tokenizer) copied into the bundle under the given names; their
        SHA-256 go to ``manifest["files"]`` and ``load_bundle`` checks them.

    Returns
    -------
    Path
        The bundle folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recorded = {}
    for name, source in (files or {}).items():
        target = out / name
        if Path(source).resolve() != target.resolve():
            shutil.copyfile(source, target)
        recorded[name] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
    model_path = out / MODEL_FILE
    joblib.dump(model, model_path, compress=JOBLIB_COMPRESS)
    (out / POLICY_FILE).write_text(policy.to_toml(), encoding="utf-8")
    full = {
        **manifest,
        "model_file": MODEL_FILE,
        "model_sha256": sha256_file(model_path),
        "model_bytes": model_path.stat().st_size,
        "policy_sha256": sha256_file(out / POLICY_FILE),
        "versions": library_versions(),
    }
    if recorded:
        full["files"] = recorded
    (out / MANIFEST_FILE).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return out


def read_manifest(path: str | Path) -> dict:
    """Read and check a bundle's manifest without touching the pickle."""
    manifest_path = Path(path) / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{manifest_path} not found: a bundle folder holds {MODEL_FILE} and {MANIFEST_FILE}") from None
    except OSError as exc:  # a folder, or unreadable: one bundle's problem, not the whole folder's (`models list`)
        raise BundleError(f"{manifest_path} cannot be read ({exc.strerror or exc}): make it a file this user can "
                          "read, or restore the bundle from git or retrain") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path} is not valid JSON ({exc}); restore it from git or retrain") from None
    if not isinstance(manifest, dict):
        kind = {type(None): "null", list: "array", str: "string", bool: "boolean"}.get(type(manifest), "number")
        raise BundleError(f"{manifest_path} holds a JSON {kind}, not an object; restore it from git or retrain")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise BundleError(f"{manifest_path} lacks {', '.join(missing)}; it was not written by `moderate train`")
    wrong = [key for key, kinds in MANIFEST_TYPES.items() if key in manifest and not isinstance(manifest[key], kinds)]
    if not wrong:  # each file's entry and each test set's metrics are objects too
        wrong += [f'files["{name}"]' for name, entry in manifest.get("files", {}).items()
                  if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)]
        wrong += [f'test_metrics["{name}"]' for name, entry in (manifest.get("test_metrics") or {}).items()
                  if not isinstance(entry, dict)]
    if wrong:
        raise BundleError(f"{manifest_path}: {', '.join(wrong)} not as `moderate train` writes {'them' if len(wrong) > 1 else 'it'} "
                          "(edited by hand?); restore it from git or retrain")
    return manifest


def verify_bundle(path: str | Path | None = None) -> tuple[Path, dict, Policy]:
    """Check a bundle without unpickling it: manifest, model file, SHA-256, scikit-learn version and policy.

    Parameters
    ----------
    path : str or Path, optional
        A bundle folder, its ``manifest.json``, or a version name under ``bundles/`` (default: ``CURRENT``).

    Returns
    -------
    folder : Path
    manifest : dict
    policy : Policy

    Raises
    ------
    BundleError
        Missing files, a SHA-256 that differs from the manifest, or another scikit-learn version.
    """
    folder = resolve_bundle_path(path)
    if folder.exists() and not folder.is_dir():
        raise BundleError(f"model bundle {folder} is a file, not a folder: pass the bundle's folder (holding "
                          f"{MANIFEST_FILE} and {MODEL_FILE}) or a version in {bundles_dir()}")
    if not folder.is_dir():
        raise BundleError(f"model bundle {folder} not found: pass a folder made by `moderate train` or a version in {bundles_dir()}")
    manifest = read_manifest(folder)
    model_path = folder / manifest.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise BundleError(f"{model_path} not found: the bundle is incomplete")
    version_problem = library_problem(folder, manifest)
    if version_problem is not None:
        raise BundleError(version_problem)
    for path, expected in hashed_files(folder, manifest).items():
        check_hashed_file(path, expected, "unpickle" if path == model_path else "load")
    return folder, manifest, bundle_policy(folder)


def library_problem(folder: Path, manifest: dict) -> str | None:
    """Why this scikit-learn cannot load the bundle in ``folder`` (trained with another version), or None."""
    trained_with = manifest["versions"].get("scikit-learn")
    if trained_with == sklearn.__version__:
        return None
    return (f"{folder} was trained with scikit-learn {trained_with} but {sklearn.__version__} is installed: "
            f"install scikit-learn=={trained_with} or retrain with `moderate train`")


def hashed_files(folder: Path, manifest: dict) -> dict[Path, str]:
    """Every file of the bundle in ``folder`` whose SHA-256 its (checked) manifest records, the model file first, with
    that SHA-256: the policy's too (``policy_sha256``; a bundle made before it was recorded has none), as its thresholds
    decide as much as the model does: one byte changed (0.3 -> 0.9) went unseen by verify, use and the server."""
    model_path = folder / manifest.get("model_file", MODEL_FILE)
    policy = {folder / POLICY_FILE: manifest["policy_sha256"]} if "policy_sha256" in manifest else {}
    return {model_path: manifest["model_sha256"],
            **{folder / name: entry["sha256"] for name, entry in manifest.get("files", {}).items()}, **policy}


def check_hashed_file(path: Path, expected: str, use: str = "load") -> None:
    """Raise BundleError unless ``path`` is a file whose SHA-256 is ``expected``; ``use`` (``load``, ``unpickle``)
    says what is refused."""
    if not path.is_file():
        raise BundleError(f"{path} not found: the bundle is incomplete")
    actual = sha256_file(path)
    if actual != expected:
        raise BundleError(f"{path} has SHA-256 {actual[:16]}... but the manifest expects {expected[:16]}...: "
                          f"refusing to {use} a file that is not the one the manifest describes")


def bundle_policy(folder: Path) -> Policy:
    """The policy of the bundle in ``folder``; BundleError naming the file when it cannot be read."""
    try:
        return load_policy(folder / POLICY_FILE)
    except PolicyError as exc:
        raise BundleError(str(exc)) from None


def unlisted_files(folder: Path, manifest: dict) -> list[Path]:
    """Files in ``folder`` (and its subfolders) that are neither the manifest, the policy nor a file the manifest
    hashes, sorted: left by hand, or copied from another bundle."""
    expected = {folder / MANIFEST_FILE, folder / POLICY_FILE, *hashed_files(folder, manifest)}
    return sorted(path for path in folder.rglob("*") if not path.is_dir() and path not in expected)


def bundle_problems(path: str | Path) -> list[str]:
    """Every problem ``verify_bundle`` would refuse the bundle at ``path`` for, not only the first, and every file in it
    the manifest does not list; empty for a sound bundle. Nothing is unpickled.

    Parameters
    ----------
    path : str or Path
        A bundle folder.

    Returns
    -------
    list of str
        One message per problem, naming the file and what to do.
    """
    folder = Path(path)
    if not folder.is_dir():
        return [f"{folder} is not a folder (a symlink to a folder gone?): restore the bundle or remove it"]
    try:
        manifest = read_manifest(folder)
    except BundleError as error:
        return [str(error)]
    problems = [problem for problem in [library_problem(folder, manifest)] if problem is not None]
    model_path = folder / manifest.get("model_file", MODEL_FILE)
    for file_path, expected in hashed_files(folder, manifest).items():
        try:
            check_hashed_file(file_path, expected, "unpickle" if file_path == model_path else "load")
        except BundleError as error:
            problems.append(str(error))
        except OSError as error:  # unreadable: one file's problem, the others are still checked
            problems.append(f"{file_path} cannot be read ({error.strerror or error}): make it readable by this user")
    problems += [f"{extra} is not listed in {folder / MANIFEST_FILE} (left by hand, or copied from another bundle?): "
                 "remove it, or restore the bundle whole" for extra in unlisted_files(folder, manifest)]
    try:
        bundle_policy(folder)
    except BundleError as error:
        problems.append(str(error))
    return problems


def load_bundle(path: str | Path | None = None, encoder_threads: int | None = None,
                encoder_mode: str | None = None, default_encoder_mode: str | None = None) -> Bundle:
    """Verify and load a bundle folder (default: the one ``bundles/CURRENT`` names).

    Parameters
    ----------
    path : str or Path, optional
        A bundle folder, its ``manifest.json``, or a version name under ``bundles/``.
    encoder_threads : int, optional
        onnxruntime threads of a bundle's encoder (default ``$MODERATION_ENCODER_THREADS``, else 1).
    encoder_mode : {"encoder", "cascade"}, optional
        Score every comment with the encoder, or only those the cascade's gate and band pick (default
        ``default_encoder_mode``, else ``$MODERATION_ENCODER_MODE``, else the bundle's own mode). The band stored in
        the bundle applies. Asking for a mode of a bundle without an encoder is an error.
    default_encoder_mode : {"encoder", "cascade"}, optional
        The mode for an encoder bundle when ``encoder_mode`` is not given; ignored by a bundle without an encoder
        (the service's ``ENCODER_MODE`` setting: a server may be switched to a TF-IDF bundle).

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Missing files, a SHA-256 that differs from the manifest, or another scikit-learn version.
    """
    folder, manifest, policy = verify_bundle(path)
    mode = chosen_encoder_mode(manifest, encoder_mode, default_encoder_mode)
    model = joblib.load(folder / manifest.get("model_file", MODEL_FILE))
    if "encoder" in manifest:
        model = _attach_encoder(model, folder, manifest, encoder_threads, mode)
    return Bundle(folder, manifest, model, policy)


def chosen_encoder_mode(manifest: dict, mode: str | None = None, default: str | None = None) -> str | None:
    """The mode an encoder bundle scores in: ``mode``, else ``default``, else ``$MODERATION_ENCODER_MODE``, else the
    manifest's own (``None`` when it names none: the pickled model keeps its mode). ``None`` for a bundle without an
    encoder, whatever ``default`` and the environment say.

    Raises ``BundleError`` for a mode that does not exist, or one asked for (``mode``) of a bundle without an encoder.
    Whoever starts workers passes the result on explicitly, so that a worker elsewhere (a Dask cluster) does not
    fall back to its own environment.
    """
    if "encoder" not in manifest:
        if mode:
            raise BundleError(f"bundle {manifest.get('model_version')}: encoder mode {mode!r} asked for, "
                              "but this bundle has no encoder")
        return None
    mode = mode or default or os.environ.get(ENCODER_MODE_ENV) or manifest.get("mode") or None
    if mode is not None:
        from model.encoder_model import MODES

        if mode not in MODES:
            raise BundleError(f"encoder mode {mode!r} unknown ({ENCODER_MODE_ENV}?): use one of {', '.join(MODES)}")
    return mode


def chosen_encoder_threads(threads: int | None = None, fallback: int | None = None) -> int:
    """onnxruntime threads for an encoder: ``threads``, else ``$MODERATION_ENCODER_THREADS``, else ``fallback``
    (a batch job's share of the cores: ``model.parallel.threads_per_process``), else 1 per process (a server
    worker).

    Raises ``BundleError`` naming the value unless it is a whole number of at least 1 (onnxruntime would read 0 as
    "every core", which parallel workers must not do).
    """
    from model.encoder import DEFAULT_THREADS

    source = "encoder_threads" if threads is not None else ENCODER_THREADS_ENV
    value = threads if threads is not None else (os.environ.get(ENCODER_THREADS_ENV) or fallback or DEFAULT_THREADS)
    try:
        number = 0 if isinstance(value, bool) else int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise BundleError(f"{source}={value!r}: onnxruntime threads must be a whole number of at least 1")
    return number


ENCODER_KEYS = frozenset({"onnx_file", "tokenizer_file", "attributes", "max_tokens", "stride", "align", "pooling",
                          "quantisation", "versions", "sentence_margin"})
"""The entries of a manifest's ``encoder`` section this version reads besides its readings
(``model.encoder.READINGS``): a bundle naming another is refused, not served without it. Code reads the readings it
knows and skipped the others, so a bundle with a reading added later was served as the bundle before it under the
new version's name (stop 58 built one, not shipped: the code of 2.17.0 served it as 2.17.0 without a word)."""


def _attach_encoder(model, folder: Path, manifest: dict, threads: int | None, mode: str | None = None):
    """Give an encoder bundle's model its onnxruntime session (files already checked by ``verify_bundle``) and
    ``mode`` (``chosen_encoder_mode``'s answer; ``None`` keeps the pickled one)."""
    from model.encoder import READINGS, WINDOW_ALIGNMENTS, EncoderRunner, check_windows, is_sentence_margin, readings_problem

    spec = manifest["encoder"]
    unknown = sorted(set(spec) - ENCODER_KEYS - set(READINGS))
    if unknown:  # a reading this code does not know would be skipped, and the bundle served as another
        raise BundleError(f"{folder / MANIFEST_FILE}: encoder {', '.join(map(repr, unknown))}, which this version "
                          "cannot read: upgrade the service or serve another bundle")
    for key in ("onnx_file", "tokenizer_file"):
        if spec.get(key) not in manifest.get("files", {}):
            raise BundleError(f"{folder / MANIFEST_FILE}: encoder {key} {spec.get(key)!r} is not among the hashed files")
    align = spec.get("align", "stride")  # bundles before 2.9.0 name none
    if align not in WINDOW_ALIGNMENTS:
        raise BundleError(f"{folder / MANIFEST_FILE}: encoder windows aligned to {align!r}, which this version cannot "
                          f"read (it reads {', '.join(WINDOW_ALIGNMENTS)}): upgrade the service or serve another bundle")
    try:  # a stride of 0 would read a long comment in windows without end
        check_windows(align, spec.get("stride"), spec.get("max_tokens"))
    except ValueError as error:
        raise BundleError(f"{folder / MANIFEST_FILE}: encoder {error}: correct the manifest's \"encoder\" entry or serve "
                          "another bundle") from error
    readings = {name: spec.get(name, False) for name in READINGS}  # bundles before 2.14.0 name none
    for name, value in readings.items():
        if not isinstance(value, bool):
            raise BundleError(f"{folder / MANIFEST_FILE}: encoder \"{name}\" is {value!r}, not true or false: "
                              "correct the manifest's \"encoder\" entry or serve another bundle")
    problem = readings_problem(readings)
    if problem:
        raise BundleError(f"{folder / MANIFEST_FILE}: encoder {problem}: correct the manifest's \"encoder\" entry or "
                          "serve another bundle")
    margin = spec.get("sentence_margin", 0.0)  # bundles before 2.15.0 name none
    if not is_sentence_margin(margin):
        raise BundleError(f"{folder / MANIFEST_FILE}: encoder \"sentence_margin\" is {margin!r}, not a number of at "
                          "least 0: correct the manifest's \"encoder\" entry or serve another bundle")
    threads = chosen_encoder_threads(threads)
    if mode is not None:
        model.mode = mode
    # Spaced letters are parted off as the words the tokenizer knows or the TF-IDF heads learned (insults among them).
    learned = model.base.learned_words() if readings.get("one_letter_words") else frozenset()
    runner = EncoderRunner(folder / spec["onnx_file"], folder / spec["tokenizer_file"], spec["attributes"],
                           threads=threads, max_tokens=spec["max_tokens"], stride=spec["stride"],
                           align=align, sentence_margin=margin, learned_words=learned, **readings)
    return model.attach(runner)


FINGERPRINT_KEY = "trained_texts"
"""The entry of a site bundle's ``site_data`` manifest section that holds the fingerprint of the site texts it trained
on (``model.training.trained_texts``)."""


def without_fingerprint(manifest: Mapping) -> dict:
    """``manifest`` without the digests of a site bundle's trained texts, for showing or serving: kilobytes of base64
    that say nothing to a reader, and that let whoever reads them check whether a text they guess was trained on (a
    key of one site, on a server that serves another's bundle)."""
    site = manifest.get("site_data")
    if not isinstance(site, Mapping) or not isinstance(site.get(FINGERPRINT_KEY), Mapping):
        return dict(manifest)
    entry = {key: value for key, value in site[FINGERPRINT_KEY].items() if key != "digests"}
    return {**manifest, "site_data": {**site, FINGERPRINT_KEY: entry}}
