"""Bundles kept side by side under ``bundles/``: list them with their metrics and choose the one served."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from model.bundle import CURRENT_FILE, MANIFEST_FILE, BundleError, bundles_dir, read_manifest, verify_bundle

PRIMARY_ATTRIBUTE = "toxicity"


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


def current_name(root: str | Path | None = None) -> str | None:
    """The folder name ``CURRENT`` holds, or None when there is no ``CURRENT`` file."""
    path = Path(root or bundles_dir()) / CURRENT_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _summary(folder: Path, current: str | None) -> BundleSummary:
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
    folders = [path for path in root.iterdir() if (path / MANIFEST_FILE).is_file()]
    summaries = [_summary(folder, current) for folder in folders]
    return sorted(summaries, key=_version_order)


def _version_order(summary: BundleSummary) -> tuple:
    """Numbered versions first, by their numbers (2.10.0 after 2.9.0), then by creation time and name.

    Not by ``created`` alone: the encoder bundles up to 2.6.0 record none.
    """
    numbers = tuple(int(part) for part in re.findall(r"\d+", summary.model_version or summary.name))
    return (not numbers, numbers, summary.created, summary.name)


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
    if Path(version).name != version or version in ("", ".", ".."):
        raise BundleError(f"{version!r} is not a bundle version: give a folder name under {root}")
    folder = root / version
    if not (folder / MANIFEST_FILE).is_file():
        known = ", ".join(s.name for s in list_bundles(root)) or "none"
        raise BundleError(f"no bundle {version!r} in {root} (known: {known})")
    verify_bundle(folder)
    # Write beside and rename: a worker starting meanwhile reads the old name or the new one, never half of one.
    scratch = root / f".{CURRENT_FILE}.{os.getpid()}"
    scratch.write_text(version + "\n", encoding="utf-8")
    os.replace(scratch, root / CURRENT_FILE)
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
    import shutil

    root = Path(root or bundles_dir())
    if Path(version).name != version or version in ("", ".", ".."):
        raise BundleError(f"{version!r} is not a bundle version: give a folder name")
    target = root / version
    if target.exists() and (not replace or current_name(root) == version):
        raise BundleError(f"{target} exists{' and is CURRENT' if current_name(root) == version else ''}: choose another version")
    verify_bundle(folder)
    root.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)
    return target
