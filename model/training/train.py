"""Build, fit and save the bundle: one pipeline factory, thresholds chosen on validation data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from model.attributes import CLAIM_ATTRIBUTE, HOSTILITY_ATTRIBUTES
from model.bundle import CURRENT_FILE, MANIFEST_FILE, abandoned_partial_folders, bundles_dir, replace_text, save_bundle
from model.claims import CHECKABLE_C, ClaimScorer
from model.features import build_features
from model.heads import C, MultiAttributeClassifier, calibrated_logistic
from model.heads import C as HEADS_C
from model.moderation_model import ModerationModel
from model.policy import Policy
from model.scoring import present_scores
from model.prior import PretrainedProfanityScore
from model.training.data import in_keys, overlap_key
from model.training.prior_weight import choose_prior_weight
from model.training.site_data import SITE_SOURCE
from model.spans import fit_span_tagger
from model.training.thresholds import choose_claim_threshold, choose_policy, choose_span_thresholds
from model.versions import BundleTargetError, check_new_bundle_folder, check_version, written_whole

log = logging.getLogger(__name__)

SEED = 20261231
"""One seed for every estimator and splitter (``--seed`` overrides)."""
HOLDOUT_FRACTION = 0.1
"""Share of the training rows kept aside, stratified by source, to choose thresholds and report validation."""
N_JOBS = 2

PROBE_TEXTS = (
    "Thanks for the thoughtful article, I learned a lot.",
    "The government is wrong about this arms deal and the minister should resign.",
    "I disagree with the author; the figures in paragraph three do not add up.",
    "You are an idiot and nobody wants you here.",
    "Shut up, you stupid moron.",
    "What a load of crap, f*ck this.",
    "People like you should be wiped off the face of the earth.",
    "I will find you and hurt you.",
    "Those immigrants are all criminals and parasites.",
    "The ally broke its promise, which is a disgrace for both countries.",
    "",
    "Great point!",
)
"""Fixed sentences written for this project; their scores, stored in the manifest, prove reproduction."""


TFIDF_VERSION = "1.4.0"
"""The TF-IDF bundle ``make train`` rebuilds by default (with the added sets, ``model.training.added_sets``), and
the base an encoder bundle is built around (``python -m model.training.encoder bundle --base``); the served bundle
(``bundles/CURRENT``) is an encoder bundle, which ``make train-encoder`` or ``make requantise`` builds. 1.4.0 is
1.3.0's recipe with the normaliser of 1.4.0 (combining marks, small capitals and negative circled letters undone) and
none of HateXplain's and ConvAbuse's test texts in its rows (``added_sets.test_keys``). 1.3.0 (the base of 2.10.0)
and 1.2.0 (``train_bundle(version="1.2.0", added_sets=False)``, the base of 2.2.0-2.9.0) are rebuilt by the code of
commit 240ff17, the last before 1.4.0: the current code would learn from other rows and other normalised text."""


def model_version() -> str:
    """The package version, which versions the bundle too."""
    try:
        return metadata.version("comment-moderation")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_pipeline(attributes=HOSTILITY_ATTRIBUTES, random_state: int = SEED, n_jobs: int = N_JOBS, C: float = C) -> Pipeline:
    """Normaliser -> word + char TF-IDF -> one calibrated logistic regression per attribute."""
    heads = MultiAttributeClassifier(tuple(attributes), calibrated_logistic(C=C, random_state=random_state), n_jobs=n_jobs)
    return Pipeline([("features", build_features()), ("heads", heads)])


def split_holdout(frame: pd.DataFrame, seed: int = SEED, fraction: float = HOLDOUT_FRACTION):
    """Split training rows into fit and holdout parts, stratified by source.

    A source of one row cannot be stratified: that row is fitted on, none of it held out; so are the site's rows when
    they hold one text only (a site file with a single usable comment, given once or more). A site row
    (``site_data.SITE_SOURCE``) whose text (``overlap_key``) is held out is held out too, so the thresholds chosen on
    the holdout never see a text the heads were fitted on (a site's moderation history repeats comments: copies, spam,
    the same comment from two sites). Without site rows or lone sources the split is the one stratified split of
    ``frame``.
    """
    if fraction <= 0:
        return frame, frame.iloc[:0]
    counts = frame["source"].value_counts()
    lone = frame["source"].isin(counts.index[counts < 2]).to_numpy()
    site = (frame["source"] == SITE_SOURCE).to_numpy()
    if frame.loc[site, "text"].map(overlap_key).nunique() == 1:
        lone = lone | site
    splittable = frame[~lone] if lone.any() else frame
    fit, holdout = train_test_split(splittable, test_size=fraction, random_state=seed, stratify=splittable["source"])
    if lone.any():
        fit = pd.concat([fit, frame[lone]])
    site_fit = (fit["source"] == SITE_SOURCE).to_numpy()
    if site_fit.any():
        held_keys = set(holdout["text"].map(overlap_key))
        moved = site_fit & in_keys(fit["text"].map(overlap_key), held_keys).to_numpy()
        fit, holdout = fit[~moved], pd.concat([holdout, fit[moved]])
    return fit, holdout


def _labels(frame: pd.DataFrame, attributes) -> np.ndarray:
    return frame[list(attributes)].to_numpy(dtype=float)


def fit_model(frame: pd.DataFrame, attributes=HOSTILITY_ATTRIBUTES, seed: int = SEED, n_jobs: int = N_JOBS, C: float = C) -> Pipeline:
    """Fit the pipeline on a training frame (``text``, ``weight`` and one column per attribute).

    Parameters
    ----------
    frame : DataFrame
        Labels are 1.0, 0.0 or NaN (the row's set does not label that attribute).
    attributes : sequence of str
    seed : int
    n_jobs : int
    C : float
        Inverse regularisation of every head's logistic regression.

    Returns
    -------
    Pipeline
        Fitted; ``predict_proba`` gives ``(n, n_attributes)``.
    """
    pipeline = build_pipeline(attributes, random_state=seed, n_jobs=n_jobs, C=C)
    weights = frame["weight"].to_numpy(dtype=float) if "weight" in frame else None
    pipeline.fit(frame["text"].tolist(), _labels(frame, attributes), heads__sample_weight=weights)
    return pipeline


def probe_scores(model, attributes) -> list[dict[str, float]]:
    """The model's scores of ``PROBE_TEXTS``, rounded to 1e-9, for the manifest, batched as the service's
    readiness check (``Scorer.predict_scores``) scores them again."""
    scores = present_scores(model, list(PROBE_TEXTS), len(attributes))
    return [{a: round(float(p), 9) for a, p in zip(attributes, row)} for row in scores]


def train_from_frame(
    frame: pd.DataFrame,
    out_dir: str | Path,
    *,
    attributes=HOSTILITY_ATTRIBUTES,
    seed: int = SEED,
    validation: Mapping[str, pd.DataFrame] | None = None,
    span_training: pd.DataFrame | None = None,
    span_validation: pd.DataFrame | None = None,
    claims_training: pd.DataFrame | None = None,
    claims_validation: Mapping[str, pd.DataFrame] | None = None,
    extra_manifest: Mapping | None = None,
    holdout_fraction: float = HOLDOUT_FRACTION,
    n_jobs: int = N_JOBS,
    C: float = C,
    claims_C: float = CHECKABLE_C,
    with_prior: bool = True,
    extend_fit: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None,
) -> Path:
    """Fit on ``frame``, choose thresholds on held-out and validation data, and write a bundle.

    Parameters
    ----------
    frame : DataFrame
        Training rows (see ``fit_model``) with a ``source`` column.
    out_dir : str or Path
        Bundle folder to write.
    attributes : sequence of str
    seed : int
    validation : mapping of name -> DataFrame(text, label), optional
        External validation sets for the toxicity thresholds (never test splits).
    span_training : DataFrame(text, spans), optional
        Comments with gold toxic character offsets to fit the word span tagger on.
    span_validation : DataFrame(text, spans), optional
        Other such comments to choose the span thresholds on.
    claims_training : DataFrame(text, checkable, supported, weight), optional
        Sentences for the unsupported-claim scorer; without them the bundle scores hostility only.
    claims_validation : mapping of name -> DataFrame(text, label), optional
        Sets to choose the unsupported-claim review threshold on.
    extra_manifest : mapping, optional
        Added to the manifest (training sets, licences, metrics...).
    holdout_fraction : float
    n_jobs : int
    C : float
        Inverse regularisation of the hostility heads (``model.training.selection`` chooses it on validation data).
    claims_C : float
        Inverse regularisation of the checkable-claim head.
    with_prior : bool
        Blend alt-profanity-check's model into ``toxicity`` with a weight chosen on ``validation``
        (``model.prior``); needs ``validation``.
    extend_fit : callable, optional
        ``extend_fit(fit_rows, holdout)`` gives the rows to fit on in place of ``fit_rows`` (the added sets:
        ``model.training.added_sets.extend_heads_rows``), so the held-out slice stays ``frame``'s.

    Returns
    -------
    Path
        The bundle folder.
    """
    started = time.perf_counter()
    fit_rows, holdout = split_holdout(frame, seed, holdout_fraction)
    if extend_fit is not None:
        fit_rows = extend_fit(fit_rows, holdout)
    log.info("fitting %d heads on %d rows (%d held out)", len(attributes), len(fit_rows), len(holdout))
    hostility = fit_model(fit_rows, attributes, seed, n_jobs, C=C)
    prior, prior_weights, prior_metrics = None, {}, None
    if with_prior and validation:
        prior = PretrainedProfanityScore().fit()
        column = list(attributes).index("toxicity")
        ours = ModerationModel(hostility)
        scored = {name: (v["label"].to_numpy(), ours.predict_proba(v["text"].tolist())[:, column], prior.predict_proba(v["text"].tolist()))
                  for name, v in validation.items()}
        weight, prior_metrics = choose_prior_weight(scored)
        prior_metrics = {**prior.provenance(), "attribute": "toxicity", **prior_metrics}
        log.info("prior %s blended into toxicity with weight %.2f (validation mean ROC AUC %.4f -> %.4f)", prior.version_, weight,
                 prior_metrics["grid"]["0.0"]["mean"], prior_metrics["grid"][str(weight)]["mean"])
        prior_weights = {"toxicity": weight} if weight > 0 else {}
        prior = prior if prior_weights else None  # a prior weighted 0 is not kept in the bundle
    tagger = None
    if span_training is not None:
        log.info("fitting the word span tagger on %d comments", len(span_training))
        # The tagger reads each comment's probabilities as the served model gives them (prior blended in).
        served = ModerationModel(hostility, prior=prior, prior_weights=prior_weights)
        tagger = fit_span_tagger(hostility, span_training, random_state=seed,
                                 comment_probabilities=served.predict_proba(span_training["text"].tolist()))
    claims = None
    if claims_training is not None:
        log.info("fitting the unsupported-claim heads on %d sentences", len(claims_training))
        claims = ClaimScorer(random_state=seed, checkable_C=claims_C).fit(claims_training)
    model = ModerationModel(hostility, tagger, claims, prior=prior, prior_weights=prior_weights)
    span_metrics = None
    if span_validation is not None:
        model.span_thresholds, span_metrics = choose_span_thresholds(model, span_validation)
    log.info("choosing thresholds on %d held-out rows and %d validation sets", len(holdout), len(validation or {}))
    holdout_scores = model.predict_proba(holdout["text"].tolist()) if len(holdout) else np.zeros((0, len(model.attributes)))
    column = list(attributes).index("toxicity")
    validation_scores = {name: (v["label"].to_numpy(), model.predict_proba(v["text"].tolist())[:, column]) for name, v in (validation or {}).items()}
    policy, policy_metrics = choose_policy(attributes, _labels(holdout, attributes), holdout_scores[:, : len(attributes)], validation_scores)
    if claims is not None and claims_validation:
        scored = {name: (v["label"].to_numpy(), claims.predict_proba(v["text"].tolist())) for name, v in claims_validation.items()}
        threshold, policy_metrics[f"review.{CLAIM_ATTRIBUTE}"] = choose_claim_threshold(scored)
        policy = Policy(reject=policy.reject, review={**policy.review, CLAIM_ATTRIBUTE: threshold}, source=policy.source)
    manifest = {
        "model_version": model_version(),
        "created": created_now(),
        "attributes": list(model.attributes),
        "seed": seed,
        "training_rows": int(len(fit_rows)),
        "holdout_rows": int(len(holdout)),
        "prior": prior_metrics,
        "span_thresholds": model.span_thresholds,
        "span_selection": span_metrics,
        "policy_selection": policy_metrics,
        "probe": {"texts": list(PROBE_TEXTS), "scores": probe_scores(model, model.attributes)},
        "training_seconds": round(time.perf_counter() - started, 1),
        **(extra_manifest or {}),
    }
    if "site_data" in manifest:  # the site rows the heads were not fitted on (``split_holdout``)
        manifest["site_data"] = {**manifest["site_data"], "rows_held_out": int((holdout["source"] == SITE_SOURCE).sum())}
    return save_bundle(model, out_dir, manifest, policy)


def _dataset_roles(registry, rows_by_source: Mapping[str, int]) -> dict:
    """Each dataset's licence, role (training or evaluation only), rows used and attributes, for the manifest.

    A source derived from a dataset (``toxic_spans_context`` from ``toxic_spans``) is listed with the
    licence of the dataset whose name it starts with.
    """
    roles = {
        name: {
            "license": info.license,
            "role": "training" if info.trainable else "validation/evaluation only",
            "rows": int(rows_by_source.get(name, 0)),
            "attributes": list(info.attributes),
        }
        for name, info in registry.items()
    }
    for source, rows in rows_by_source.items():
        parent = next((name for name in registry if source != name and source.startswith(name)), None)
        if source not in registry and parent is not None:
            roles[source] = {**roles[parent], "rows": int(rows), "derived_from": parent}
    return roles


def created_now() -> str:
    """A manifest's ``created``: UTC, to the second, ISO 8601."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _stage_progress(description: str):
    """Progress over a stage's batches: a tqdm bar when a person watches stderr, else one log line as it starts."""

    def wrap(items):
        if sys.stderr.isatty():
            return tqdm(items, desc=description, leave=False)
        log.info("%s", description)
        return items

    return wrap


def record_test_metrics(bundle_dir: Path, test_sets: Mapping[str, Mapping[str, pd.DataFrame]]) -> dict:
    """Add each attribute's ROC AUC on the official test splits to the bundle's manifest (reporting only).

    Scored in ``make eval``'s batches, so an int8 encoder bundle records the figures ``reports/eval.md`` shows.
    ``moderate models list`` reads them. Each set shows a bar on a terminal, a log line otherwise; the manifest is
    replaced whole (written beside, then renamed), so an interrupted run leaves the previous one.

    Parameters
    ----------
    bundle_dir : Path
    test_sets : mapping attribute -> (set name -> DataFrame(text, label))
    """
    from sklearn.metrics import roc_auc_score

    from model.bundle import load_bundle
    from model.training.metrics import scores_in_batches

    bundle = load_bundle(bundle_dir)
    metrics = {}
    for attribute, sets in test_sets.items():
        if attribute not in bundle.attributes:
            continue
        column = list(bundle.attributes).index(attribute)
        for name, frame in sets.items():
            scores = scores_in_batches(bundle.model.predict_proba, frame["text"].tolist(),
                                       progress=_stage_progress(f"test metrics: {name}"))[:, column]
            metrics[name] = {
                "attribute": attribute,
                "rows": int(len(frame)),
                "positives": int(frame["label"].sum()),
                "roc_auc": round(float(roc_auc_score(frame["label"], scores)), 4),
            }
    manifest_path = Path(bundle_dir) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["test_metrics"] = metrics
    replace_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return metrics


def train_bundle(
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    seed: int = SEED,
    progress: bool = True,
    make_current: bool = False,
    site_data: str | Path | None = None,
    site_weight: float | None = None,
    version: str | None = None,
    C: float = C,
    claims_C: float = CHECKABLE_C,
    overwrite: bool = False,
    added_sets: bool = True,
    site_split_from: Mapping | None = None,
) -> Path:
    """Train the TF-IDF bundle from the public data and write it (default ``bundles/<version>``).

    First removes the hidden folders killed trainings left beside it (``remove_abandoned_partial_folders``).

    Parameters
    ----------
    data_dir : str or Path, optional
        Data directory (default: ``MODERATION_DATA_DIR`` or ``../shared/data``).
    out_dir : str or Path, optional
        Bundle folder; default ``bundles/<version>``.
    seed : int
    progress : bool
        Log progress to stderr.
    make_current : bool, optional
        Point ``bundles/CURRENT`` at the new bundle (default: no; ``moderate models use`` switches the served one).
    site_data : str or Path, optional
        A site's labelled comments (see ``model.training.site_data``), added to the public training rows; the
        manifest records the file's SHA-256 and row counts under ``site_data``.
    site_weight : float, optional
        Sample weight of each site row (default ``model.training.site_data.DEFAULT_SITE_WEIGHT``).
    site_split_from : mapping, optional
        When ``site_data`` is the training part of a site's file (notebook 05 holds the rest out), that file as
        ``model.training.site_data.split_origin`` describes it: recorded under ``site_data.split_from``, so the
        manifest names the site's own file, not only the scratch file trained on.
    version : str, optional
        The bundle's version: its manifest's ``model_version`` and its folder ``bundles/<version>``
        (default: ``TFIDF_VERSION``; with ``site_data``, ``<TFIDF_VERSION>+site.<sha256[:8]>``).
    C, claims_C : float
        Inverse regularisation of the hostility and checkable-claim heads (see ``train_from_frame``).
    added_sets : bool
        Fit the heads on HateXplain, ConvAbuse, the identity sentences and identity-swapped copies as well
        (``model.training.added_sets``; the manifest lists them under ``added_sets``), as from 1.3.0; ``False``
        rebuilds 1.2.0's recipe.
    overwrite : bool
        Replace a bundle already in the folder (``make train`` rebuilds ``bundles/1.4.0`` so); without it an
        existing bundle raises ``model.versions.BundleExistsError`` before any data is read. The served bundle (the one
        ``bundles/CURRENT`` names) is never replaced, even with ``overwrite``.

    Returns
    -------
    Path

    Raises
    ------
    BundleError
        ``version`` cannot name a bundle folder (``model.versions.check_version``).
    model.versions.BundleTargetError
        ``out_dir`` cannot take the bundle (``check_new_bundle_folder``), or its folder cannot be written; raised before
        any data is read. The bundle is written in a hidden folder beside ``out_dir`` and renamed to it only when
        complete (``written_whole``), so an interrupted run leaves no half-written bundle (and an overwritten one intact).
    """
    from model.training import data
    from model.training import site_data as site_data_module

    if version is not None:
        check_version(version)
    if site_data is not None and version is None and out_dir is None:
        # Never overwrite the public bundle: a site bundle gets its own version, named by its data.
        from model.bundle import sha256_file

        version = f"{TFIDF_VERSION}+site.{sha256_file(Path(site_data))[:8]}"
    version = version or TFIDF_VERSION
    out = Path(out_dir) if out_dir is not None else bundles_dir() / version
    check_new_bundle_folder(out, overwrite)
    if make_current and out.resolve().parent != bundles_dir().resolve():
        # CURRENT names a folder of the bundles folder: one elsewhere would leave it naming a bundle that is not there.
        raise BundleTargetError(f"{out} is not in the bundles folder {bundles_dir()}, so CURRENT cannot name it: "
                                "write the bundle there, or serve it with --model PATH")
    if progress:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    remove_abandoned_partial_folders(out.resolve().parent)
    with written_whole(out, overwrite) as scratch:
        # The site's file is read (and refused) before the public data, which takes a while to load.
        site = site_data_module.read_site_data(site_data) if site_data is not None else None
        if site is not None and site_split_from is not None:
            site.attrs["split_from"] = dict(site_split_from)
        data_path = data.resolve_data_dir(data_dir)
        log.info("reading the public data in %s", data_path)
        _train_bundle_from(data_path, scratch, seed=seed, site=site, site_weight=site_weight, version=version, C=C, claims_C=claims_C,
                           added_sets=added_sets)
    log.info("wrote %s", out)
    if make_current:
        # Renamed over it, as ``moderate models use`` does: a worker starting reads the old name or the new, and a
        # CURRENT that is a symlink is replaced, its target (another folder's CURRENT, say) left as it was.
        replace_text(bundles_dir() / CURRENT_FILE, out.name + "\n")
    return out


def remove_abandoned_partial_folders(root: Path) -> list[Path]:
    """Remove the hidden folders that killed trainings left in ``root`` (``model.bundle.abandoned_partial_folders``).

    A ``moderate train`` killed by SIGKILL (the OOM killer, ``kill -9``) cannot remove its ``.<version>.partial-<pid>``
    folder, tens of MB each; the next training does, leaving those of trainings still running. Each removal is logged;
    one that fails is logged as a warning and left for ``moderate models list`` to name.

    Parameters
    ----------
    root : Path
        The folder the new bundle is written in.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    for folder in abandoned_partial_folders(root):
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:  # another training starting at the same time removed it first
            continue
        except OSError as error:
            log.warning("cannot remove %s, left by a training that was killed (%s): remove it by hand", folder, error.strerror or error)
            continue
        log.info("removed %s, left by a training that was killed", folder)
        removed.append(folder)
    return removed


def _train_bundle_from(data_path: Path, out: Path, *, seed: int, site: pd.DataFrame | None, site_weight: float | None,
                       version: str, C: float, claims_C: float, added_sets: bool) -> None:
    """``train_bundle``'s work once its folder and data are chosen: load every set, fit, write, record test metrics."""
    from model.training import added_sets as added, claims_data, data

    frame = data.load_training_data(data_path)
    validation = data.load_validation_sets(data_path)
    claims_training = claims_data.load_claim_training_data(data_path)
    claims_validation = claims_data.load_claim_validation_sets(data_path)
    span_training = data.load_toxic_spans("train", data_path)
    span_validation = data.load_toxic_spans("trial", data_path)
    datasets = {
        **_dataset_roles(data.DATASETS, frame.attrs.get("rows_by_source", {})),
        **_dataset_roles(claims_data.CLAIM_DATASETS, claims_training.attrs.get("rows_by_source", {})),
    }
    extra = {
        "datasets": datasets,
        "removed_test_overlap": {"hostility": frame.attrs.get("removed_overlap"), "claims": claims_training.attrs.get("removed_overlap")},
    }
    extra["model_version"] = version
    if (C, claims_C) != (HEADS_C, CHECKABLE_C):
        extra["hyperparameters"] = {"C": C, "claims_C": claims_C}
    if site is not None:
        frame, extra["site_data"] = _with_site_rows(frame, site, site_weight, data_path)
    extend_fit = None
    if added_sets:
        def extend_fit(fit_rows, holdout):
            extended = added.extend_heads_rows(fit_rows, holdout, data_path, seed)
            counts = extended["source"].value_counts()
            extra["added_sets"] = {name: {"license": licence, "rows": int(counts.get(name, 0))}
                                   for name, (_, licence) in added.ADDED_SETS.items()}
            return extended
    bundle_dir = train_from_frame(frame, out, seed=seed, validation=validation, span_training=span_training, span_validation=span_validation,
        claims_training=claims_training, claims_validation=claims_validation, extra_manifest=extra, C=C, claims_C=claims_C,
        extend_fit=extend_fit)
    record_test_metrics(bundle_dir, {"toxicity": data.load_test_sets(data_path), CLAIM_ATTRIBUTE: claims_data.load_claim_test_sets(data_path)})


def _with_site_rows(frame: pd.DataFrame, site: pd.DataFrame, weight: float | None, data_path: Path) -> tuple[pd.DataFrame, dict]:
    """The public training rows plus a site's labelled comments (minus public test and validation texts), and their
    manifest entry."""
    from model.training import added_sets, data, site_data

    weight = site_data.DEFAULT_SITE_WEIGHT if weight is None else weight
    path = site.attrs.get("file")
    test_keys = added_sets.test_keys(data_path)
    validation_keys = data._keys(data.load_validation_sets(data_path))
    rows = site_data.site_training_rows(site, weight, exclude_texts=test_keys, validation_texts=validation_keys)
    log.info("adding %d site rows (weight %.3g) from %s", len(rows), weight, path)
    return site_data.add_site_rows(frame, rows), site_data.site_manifest(site, rows, weight)
