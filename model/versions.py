"""Bundles kept side by side under ``bundles/``: list them with their metrics, choose the one served, and write a new
one whole, never over the served one."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from model.bundle import (BUNDLES_DIR_ENV, CURRENT_FILE, MANIFEST_FILE, BundleError, bundles_dir, current_is_a_folder,
                          hidden_work_folder, read_current, read_manifest, replace_text, verify_bundle)

PRIMARY_ATTRIBUTE = "toxicity"
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
"""A bundle version, which is also its folder name: 1.3.0, 1.2.0-mysite, 1.2.0+site.1a2b3c4d. Not a path, not hidden
(a folder beginning with a dot is a bundle still being written), no spaces."""


class BundleTargetError(ValueError):
    """A new bundle cannot be written where it was asked for; the message says what to choose instead."""


class BundleExistsError(BundleTargetError):
    """A bundle folder already holds a bundle and overwriting was not asked for, or it is the served one."""


@dataclass(frozen=True)
class BundleSummary:
    """One bundle folder as ``moderate models list`` shows it."""

    name: str
    path: Path
    current: bool
    model_version: str = ""
    created: str = ""
    training_rows: int | None = None
    site_rows: int | None = None
    test_auc: dict[str, float] = field(default_factory=dict)
    error: str = ""


def check_version(version: str) -> str:
    """Check that ``version`` can name a new bundle folder under ``bundles/``.

    Parameters
    ----------
    version : str

    Returns
    -------
    str
        ``version``, unchanged.

    Raises
    ------
    BundleError
        It does not match ``VERSION_PATTERN`` (a path, a hidden name, a space...) or is ``CURRENT``.
    """
    if not VERSION_PATTERN.fullmatch(version) or version == CURRENT_FILE:
        raise BundleError(f"{version!r} is not a bundle version: use letters, digits and . _ + - only, beginning with "
                          f"a letter or digit, and not {CURRENT_FILE} (e.g. 1.3.0 or 1.2.0-mysite)")
    return version


def file_in_the_way(path: Path) -> Path | None:
    """The file that ``path`` or the nearest of its parents that exists is (``afile`` for ``afile/sub``): no folder can be
    made there. None when that is a folder."""
    existing = next((candidate for candidate in (path, *path.parents) if candidate.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def check_bundles_folder(root: Path) -> None:
    """Raise BundleError when the folder of bundles ``root`` is a file, or lies under one."""
    blocker = file_in_the_way(root)
    if blocker is None:
        return
    under = "" if blocker == root else f" ({root} lies under it)"
    raise BundleError(f"{blocker} is a file, not a folder of bundles{under}: point ${BUNDLES_DIR_ENV} at the folder "
                      "holding them")


def current_name(root: str | Path | None = None) -> str | None:
    """The folder name ``CURRENT`` holds, or None when there is no ``CURRENT`` file; BundleError if it is a folder."""
    path = Path(root or bundles_dir()) / CURRENT_FILE
    try:
        return read_current(path) or None
    except FileNotFoundError:
        return None


def _is_dangling(path: Path) -> bool:
    """Whether ``path`` is a symlink whose target does not exist."""
    return path.is_symlink() and not path.exists()


def _summary(folder: Path, current: str | None) -> BundleSummary:
    if _is_dangling(folder):
        return BundleSummary(folder.name, folder, folder.name == current,
                             error=f"{folder} is a symlink to {os.readlink(folder)}, which does not exist (a disk not "
                                   "mounted, a bundle moved?): restore it or remove the symlink")
    try:
        manifest = read_manifest(folder)
    except BundleError as error:
        return BundleSummary(folder.name, folder, folder.name == current, error=str(error))
    site = manifest.get("site_data") or {}
    metrics = manifest.get("test_metrics") or {}
    return BundleSummary(
        name=folder.name,
        path=folder,
        current=folder.name == current,
        model_version=str(manifest.get("model_version", "")),
        created=str(manifest.get("created", "")),
        # An encoder bundle fine-tuned its encoder on ``encoder_training``'s rows (its TF-IDF parts are its base's).
        training_rows=manifest.get("training_rows") or (manifest.get("encoder_training") or {}).get("rows"),
        site_rows=site.get("rows_used"),
        test_auc={name: m["roc_auc"] for name, m in metrics.items() if m.get("roc_auc") is not None},
    )


def list_bundles(root: str | Path | None = None) -> list[BundleSummary]:
    """Every bundle folder under ``root`` (default ``bundles/``) in version order, ``CURRENT`` marked.

    Parameters
    ----------
    root : str or Path, optional
        The folder of bundles (default: ``model.bundle.bundles_dir()``).

    Returns
    -------
    list of BundleSummary
        Read from the manifests only: no model is unpickled.
    """
    root = Path(root or bundles_dir())
    if not root.is_dir():
        return []
    current = current_name(root)
    # A folder without a manifest is listed with its error, as is a symlink to a folder gone (an unmounted disk); a
    # hidden one is a bundle `moderate train` is still writing.
    folders = [path for path in root.iterdir() if (path.is_dir() or _is_dangling(path)) and not path.name.startswith(".")]
    summaries = [_summary(folder, current) for folder in folders]
    return sorted(summaries, key=_version_order)


def _version_order(summary: BundleSummary) -> tuple:
    """Numbered versions first, by their numbers (2.10.0 after 2.9.0), then by creation time and name.

    Not by ``created`` alone: the encoder bundles up to 2.6.0 record none.
    """
    numbers = tuple(int(part) for part in re.findall(r"\d+", summary.model_version or summary.name))
    return (not numbers, numbers, summary.created, summary.name)


def version_folder(version: str, root: str | Path | None = None) -> Path:
    """The folder of bundle ``version`` under ``root`` (default: ``model.bundle.bundles_dir()``), not yet verified;
    BundleError for a name that is no version (a path, a hidden folder still being written) or one not there."""
    root = Path(root or bundles_dir())
    if not version or Path(version).name != version or version.startswith("."):  # a hidden folder is still being written
        raise BundleError(f"{version!r} is not a bundle version: give a folder name under {root}")
    check_bundles_folder(root)
    folder = root / version
    if not folder.is_dir():
        known = ", ".join(s.name for s in list_bundles(root) if not s.error) or "none"
        raise BundleError(f"no bundle {version!r} in {root} (known: {known})")
    return folder


def use_bundle(version: str, root: str | Path | None = None) -> Path:
    """Verify ``root/version`` and make it ``CURRENT``; return the bundle folder.

    Parameters
    ----------
    version : str
        A folder name under ``root``.
    root : str or Path, optional
        The folder of bundles (default: ``model.bundle.bundles_dir()``).

    Returns
    -------
    Path

    Raises
    ------
    BundleError
        The version does not exist or does not verify; ``CURRENT`` is left unchanged.
    """
    root = Path(root or bundles_dir())
    folder = version_folder(version, root)
    verify_bundle(folder)  # a folder without a manifest is refused here, and says so
    current = root / CURRENT_FILE
    if current.is_dir() and not current.is_symlink():  # a symlink is replaced like a file; a folder cannot be
        raise BundleError(current_is_a_folder(current))
    replace_text(current, version + "\n")  # a worker starting meanwhile reads the old name or the new
    return folder


def publish_bundle(folder: str | Path, version: str, root: str | Path | None = None, replace: bool = False) -> Path:
    """Copy a verified bundle folder to ``root/version`` (default ``bundles/``); never over the served one.

    Parameters
    ----------
    folder : str or Path
        A bundle written elsewhere (a scratch folder while it is being judged).
    version : str
        The new folder's name.
    root : str or Path, optional
    replace : bool
        Replace an existing folder of that name, unless it is ``CURRENT``.

    Returns
    -------
    Path
        The published folder (not made ``CURRENT``: that is ``use_bundle``'s job).
    """
    root = Path(root or bundles_dir())
    target = root / check_version(version)
    if target.exists() and (not replace or current_name(root) == version):
        raise BundleError(f"{target} exists{' and is CURRENT' if current_name(root) == version else ''}: choose another version")
    verify_bundle(folder)
    root.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)
    return target


def _is_served(folder: Path) -> bool:
    """Whether ``folder`` is the bundle ``bundles/CURRENT`` names."""
    current = current_name()
    return current is not None and folder.resolve() == (bundles_dir() / current).resolve()


def check_new_bundle_folder(out: Path, overwrite: bool) -> None:
    """Check that folder ``out`` can take a new bundle, before any work is done for it.

    It can if it is new or an empty folder, or holds a bundle that ``overwrite`` allows to replace and that is not the
    served one (``bundles/CURRENT``), which a server loads again on SIGHUP or when a worker restarts.

    Parameters
    ----------
    out : Path
    overwrite : bool

    Raises
    ------
    BundleTargetError
        Saying what to choose instead (``BundleExistsError`` for a bundle already there).
    """
    blocker = file_in_the_way(out)
    if blocker == out:
        raise BundleTargetError(f"{out} is a file: give a folder for the bundle with --out, or another --version")
    if blocker is not None:
        raise BundleTargetError(_under_a_file(out, blocker))
    if (out / MANIFEST_FILE).exists():
        if _is_served(out):
            raise BundleExistsError(f"{out} is the served bundle (bundles/CURRENT names it) and is never overwritten: "
                                    "name another with --version or --out, or first serve another one with "
                                    "`moderate models use VERSION`")
        if not overwrite:
            raise BundleExistsError(f"{out} already holds a bundle ({_bundle_version(out)}); name another with --version "
                                    "or --out, or pass --overwrite to rebuild it")
    elif out.is_dir() and any(out.iterdir()):
        raise BundleTargetError(f"{out} holds files but no {MANIFEST_FILE} (a bundle whose writing was interrupted?): "
                                "remove it, or give a new or empty folder with --out, or another --version")


@contextmanager
def written_whole(out: Path, overwrite: bool) -> Iterator[Path]:
    """A new hidden folder beside ``out`` to write the bundle in, renamed to ``out`` when the block ends; removed if
    the block fails or is interrupted (Ctrl-C), so ``out`` holds a whole bundle or what it held before.

    Parameters
    ----------
    out : Path
        The bundle folder (``check_new_bundle_folder`` is checked again before the rename).
    overwrite : bool

    Returns
    -------
    context manager of Path
        The hidden folder, ``.<name>.partial-<pid>``, which ``list_bundles`` does not list.

    Raises
    ------
    BundleTargetError
        On entry, when the folder beside ``out`` cannot be written (read-only, a file in the way).
    """
    target = out.resolve()
    scratch = hidden_work_folder(target, "partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)  # left by a killed run that had our process id
        scratch.mkdir()
    except OSError as error:  # before any data is read: a read-only bundles folder is told at once
        blocker = file_in_the_way(target.parent)
        if blocker is not None:
            raise BundleTargetError(_under_a_file(out, blocker)) from None
        raise BundleTargetError(f"cannot write a bundle in {target.parent} ({error.strerror or error}): choose a "
                                f"writable folder with --out or ${BUNDLES_DIR_ENV}") from None
    try:
        yield scratch
        check_new_bundle_folder(out, overwrite)  # again: CURRENT may have been switched to it while we trained
        _move_into_place(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _under_a_file(out: Path, blocker: Path) -> str:
    """Why no bundle can be written in ``out``: ``blocker``, one of its parents, is a file (not "File exists")."""
    return (f"{blocker} is a file, not a folder: cannot write a bundle in {out.parent} (Not a directory): choose a "
            f"writable folder with --out or ${BUNDLES_DIR_ENV}")


def _move_into_place(scratch: Path, target: Path) -> None:
    """Rename the finished bundle to ``target``; a bundle already there is renamed aside first, then removed."""
    if target.is_dir() and any(target.iterdir()):
        replaced = hidden_work_folder(target, "replaced")
        os.replace(target, replaced)
        os.replace(scratch, target)
        shutil.rmtree(replaced)
    else:
        os.replace(scratch, target)


def _bundle_version(folder: Path) -> str:
    """The version a bundle folder's manifest names, for messages."""
    try:
        return "version " + str(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")).get("model_version"))
    except (OSError, ValueError, AttributeError):
        return "an unreadable manifest"
