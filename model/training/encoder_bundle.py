"""Build an encoder bundle: calibrate the exported encoder on held-out rows, choose thresholds and the cascade band.

Everything here is chosen on held-out training rows and the validation sets, never on a test split:
Platt scaling per attribute on the held-out rows' windowed logits (the serving path, int8 ONNX), the
policy with ``choose_policy`` as for the TF-IDF bundles, the cascade band as the one that sends the fewest
validation comments to the encoder while changing at most ``CASCADE_DECISION_TOLERANCE`` of the review decisions
(toxicity at its best-F1 threshold) that the encoder on every comment would make, and (from 2.8.0) the comment floor
of the word spans on the toxic-spans trial posts, scored as the bundle serves them.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from importlib import metadata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from model.attributes import CLAIM_ATTRIBUTE
from model.bundle import MANIFEST_FILE, Bundle, load_bundle, save_bundle
from model.encoder import (MAX_TOKENS, READINGS, SENTENCE_MARGINS, WINDOW_STRIDE, Calibration, EncoderRunner,
                           check_windows, is_sentence_margin, readings_problem, unmet_reading)
from model.encoder_model import EncoderModerationModel
from model.policy import Policy
from model.prior import blend
from model.training.encoder_claims import build_claim_head
from model.training.quantisation import scheme_of
from model.training.metrics import spans_to_offsets
from model.training.thresholds import best_f1_threshold, choose_claim_threshold, choose_comment_floor, choose_policy
from model.training.train import PROBE_TEXTS, SEED, probe_scores, remove_abandoned_partial_folders
from model.versions import written_whole

log = logging.getLogger(__name__)

CASCADE_DECISION_TOLERANCE = 0.01
"""Share of validation comments whose review decision on toxicity the cascade may change against the encoder on
every comment. (2.0.0 bounded the loss of mean ROC AUC instead, 0.005: AUC ranks the many plainly civil comments
too, so that rule kept 84% of comments on the encoder although their decision could not change.)"""
BLEND_GRID = tuple(round(0.1 * i, 1) for i in range(11))
"""Encoder weights tried for the toxicity blend (1 = the encoder alone, 0 = the TF-IDF heads alone)."""
BAND_LOWS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
BAND_HIGHS = (1.0, 0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.6)
PLATT_C = 1e4
"""Inverse regularisation of the one-feature Platt fits: effectively none."""


def fit_calibration(attributes, logits: np.ndarray, labels: np.ndarray) -> Calibration:
    """Platt scaling per attribute on held-out rows (labels NaN where a source does not label it)."""
    slopes, intercepts = {}, {}
    for j, attribute in enumerate(attributes):
        known = ~np.isnan(labels[:, j])
        y = labels[known, j]
        if known.sum() < 2 or y.min() == y.max():
            slopes[attribute], intercepts[attribute] = 1.0, 0.0
            continue
        fit = LogisticRegression(C=PLATT_C).fit(logits[known, j : j + 1], y.astype(int))
        slopes[attribute], intercepts[attribute] = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return Calibration(slopes, intercepts)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")


def choose_blend(validation: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> tuple[float, dict]:
    """The encoder's weight in the toxicity blend with the best mean validation ROC AUC."""
    table = {}
    for weight in BLEND_GRID:
        aucs = [_auc(labels, blend(fast, slow, weight)) for labels, fast, slow, _ in validation.values()]
        table[str(weight)] = round(float(np.nanmean(aucs)), 4)
    # Ties go to the larger encoder weight: the TF-IDF score of a long comment dilutes its worst sentence.
    best = max(reversed(BLEND_GRID), key=lambda w: table[str(w)])
    return best, table


def choose_band(validation: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                tolerance: float = CASCADE_DECISION_TOLERANCE) -> tuple[tuple[float, float], dict]:
    """The band that re-scores the fewest validation comments while keeping the encoder's review decisions.

    A comment is re-scored when its gate score is at least the band's low end and its TF-IDF toxicity at most
    the high end (``EncoderModerationModel.rescored``). The reference is the encoder on every comment,
    reviewed at its best-F1 toxicity threshold on the pooled sets; a band qualifies when the cascade's scores
    at that threshold decide differently on at most ``tolerance`` of the comments.

    Parameters
    ----------
    validation : mapping name -> (labels, tfidf toxicity, encoder toxicity, gate score)
    tolerance : float

    Returns
    -------
    band : (low, high)
    table : dict
        The reference threshold and, per band: decisions changed, mean ROC AUC and the share re-scored.
    """
    labels, fast, slow, gate = (np.concatenate([v[k] for v in validation.values()]) for k in range(4))
    threshold, _ = best_f1_threshold(labels, slow)
    reference = slow >= threshold

    def measured(low: float, high: float) -> dict:
        use = (gate >= low) & (fast <= high)
        cascade = np.where(use, slow, fast)
        aucs = [_auc(y, np.where((g >= low) & (f <= high), s, f)) for y, f, s, g in validation.values()]
        return {"changed": round(float(((cascade >= threshold) != reference).mean()), 4),
                "mean_auc": round(float(np.nanmean(aucs)), 4), "rescored": round(float(use.mean()), 4)}

    table, best = {}, ((0.0, 1.0), 1.0)
    for low in BAND_LOWS:
        for high in BAND_HIGHS:
            row = table[f"{low}-{high}"] = measured(low, high)
            if row["changed"] <= tolerance and row["rescored"] < best[1]:
                best = ((low, high), row["rescored"])
    encoder_auc = float(np.nanmean([_auc(y, s) for y, _, s, _ in validation.values()]))
    return best[0], {"rule": "fewest re-scored with review decisions changed <= tolerance",
                     "reference_threshold": round(threshold, 4), "tolerance": tolerance,
                     "encoder_mean_auc": round(encoder_auc, 4), "grid": table}


def choose_span_floor(model: EncoderModerationModel, posts: pd.DataFrame) -> tuple[float, dict]:
    """The ``span_floor`` of ``model``: ``choose_comment_floor`` on ``posts`` (text, gold offsets), with each post's
    toxicity spans and score as ``model`` serves them in its mode.

    The floor only removes spans, so the posts are scored once with no floor and each floor drops the spans of
    posts scoring below it (a long comment's window span needs 0.5, above every floor tried).
    """
    column = list(model.hostility_attributes).index("toxicity")
    unfloored = model.in_mode(model.mode)
    unfloored.span_floor = 0.0
    scores, spans = unfloored.predict_and_explain(posts["text"].tolist())
    predicted = [spans_to_offsets(found.get("toxicity", [])) for found in spans]
    floor, metrics = choose_comment_floor(scores[:, column], predicted, [set(offsets) for offsets in posts["spans"]])
    return floor, metrics | {"posts": int(len(posts)), "scores": model.mode}


def build_encoder_bundle(base: Bundle, onnx_path: Path, tokenizer_path: Path, holdout: pd.DataFrame,
                         validation: Mapping[str, pd.DataFrame], out_dir: Path, version: str, mode: str = "cascade",
                         threads: int = 2, manifest_extra: dict | None = None,
                         claims_training: pd.DataFrame | None = None,
                         claims_validation: Mapping[str, pd.DataFrame] | None = None,
                         span_posts: pd.DataFrame | None = None, stride: int = WINDOW_STRIDE,
                         align: str = "stride") -> tuple[Path, dict]:
    """Calibrate, choose thresholds and band, and save the encoder bundle.

    Parameters
    ----------
    base : Bundle
        The TF-IDF bundle whose model (claims, word spans, cascade's first pass) is wrapped; the site data its heads
        were trained on, if any, is recorded as its manifest records it (``base_site_provenance``).
    onnx_path, tokenizer_path : Path
        The exported int8 encoder and its tokenizer.
    holdout : pandas.DataFrame
        Held-out training rows: ``text`` and one column per hostility attribute (NaN = not labelled).
    validation : mapping name -> frame with ``text`` and ``label``
        The validation sets (toxicity review threshold, cascade band).
    out_dir : Path
        The bundle folder to write.
    version : str
        ``model_version`` of the new bundle.
    mode : {"encoder", "cascade"}
    threads : int
        onnxruntime threads while building.
    manifest_extra : dict, optional
        Further manifest entries (training provenance).
    claims_training, claims_validation : optional
        Claim training units and validation sets: with both, a checkable head on the encoder joins the base's
        TF-IDF one (``model.training.encoder_claims``) and the claim review threshold is chosen again on the
        blended scores; without, the base's claim heads and threshold are kept.
    span_posts : pandas.DataFrame, optional
        Posts with gold toxic spans (``text``, ``spans``; the toxic-spans trial split): the word spans' comment floor
        is chosen on them against the served scores (``choose_span_floor``); without, the base's floor applies to
        the TF-IDF scores, as in bundles before 2.8.0.
    stride : int
        Word pieces between the starts of a long comment's windows of ``MAX_TOKENS`` (``model.encoder.windows_of``),
        at least 1 and at most the pieces a window holds: 32 (the default, every bundle to 2.8.0) overlaps them by
        half, ``MAX_TOKENS - 2`` (62) reads each piece once. Every choice of the build is made on windows of this
        stride, and the manifest records it for serving.
    align : {"stride", "sentences"}
        ``"stride"`` (every bundle to 2.8.0): a long comment's windows start every ``stride`` pieces;
        ``"sentences"``: each window ends at the last sentence end it holds and the next starts there, so a sentence
        of up to a window's pieces is read whole and once (``stride`` then only steps through a longer sentence).

    Returns
    -------
    path : Path
        The bundle folder.
    summary : dict
        What was chosen, as written to the manifest.
    """
    check_windows(align, stride)
    attributes = base.model.hostility_attributes
    runner = EncoderRunner(onnx_path, tokenizer_path, attributes, threads=threads, stride=stride, align=align)
    started = time.perf_counter()
    holdout_logits, _ = runner.logits(holdout["text"].tolist())
    holdout_labels = holdout[list(attributes)].to_numpy(float)
    calibration = fit_calibration(attributes, holdout_logits, holdout_labels)
    holdout_scores = calibration.apply(attributes, holdout_logits)
    model = EncoderModerationModel(base.model, calibration, mode="encoder", gate="sentences").attach(runner)
    column = attributes.index("toxicity")
    scored = {}
    for name, frame in validation.items():
        texts = frame["text"].tolist()
        fast = base.model.predict_hostility(texts)[:, column]
        slow = calibration.apply(attributes, runner.logits(texts)[0])[:, column]
        scored[name] = (frame["label"].to_numpy(int), fast, slow, model.gate_scores(texts, fast))
    weight, blend_table = choose_blend(scored)
    scored = {name: (labels, fast, blend(fast, slow, weight), gate) for name, (labels, fast, slow, gate) in scored.items()}
    band, band_table = choose_band(scored)
    model.mode, model.band, model.blend_weights = mode, band, {"toxicity": weight}
    # Thresholds are chosen on the scores the shipped mode gives.
    validation_scores = {}
    for name, (labels, fast, slow, gate) in scored.items():
        use = np.ones(len(labels), dtype=bool) if mode == "encoder" else (gate >= band[0]) & (fast <= band[1])
        validation_scores[name] = (labels, np.where(use, slow, fast))
    holdout_fast = base.model.predict_hostility(holdout["text"].tolist())
    holdout_scores = model.blended(holdout_fast, holdout_scores)
    policy, policy_metrics = choose_policy(attributes, holdout_labels, holdout_scores, validation_scores)
    claim = base.policy.review.get(CLAIM_ATTRIBUTE)
    claim_summary = None
    if claims_training is not None and claims_validation and base.model.claims is not None:
        model.claim_head, served, claim_summary = build_claim_head(base.model.claims, runner, claims_training,
                                                                   claims_validation, random_state=SEED)
        claim, policy_metrics[f"review.{CLAIM_ATTRIBUTE}"] = choose_claim_threshold(served)
    span_summary = None
    if span_posts is not None and len(span_posts):
        model.span_floor, span_summary = choose_span_floor(model, span_posts)
    review = dict(policy.review) | ({CLAIM_ATTRIBUTE: claim} if claim is not None else {})
    policy = Policy(reject=dict(policy.reject), review=review, source="training")
    validation_auc = {name: round(_auc(labels, scores), 4) for name, (labels, scores) in validation_scores.items()}
    holdout_auc = {a: round(_auc(holdout_labels[~np.isnan(holdout_labels[:, j]), j],
                                 holdout_scores[~np.isnan(holdout_labels[:, j]), j]), 4)
                   for j, a in enumerate(attributes)}
    summary = {
        "mode": mode, "band": list(band), "gate": model.gate, "cascade_selection": band_table,
        "blend_weights": {"toxicity": weight}, "blend_selection": blend_table,
        "calibration": calibration.to_dict(), "policy_selection": policy_metrics,
        "validation_toxicity_auc": validation_auc, "holdout_auc": holdout_auc,
        "holdout_rows": int(len(holdout)), "claim_head": claim_summary, "span_floor": span_summary,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    manifest = {
        "model_version": version,
        "attributes": list(base.attributes),
        "base_bundle": {"version": base.version, "model_sha256": base.manifest["model_sha256"]},
        **base_site_provenance(base),
        "encoder": {"onnx_file": "encoder.onnx", "tokenizer_file": "tokenizer.json", "attributes": list(attributes),
                    "max_tokens": MAX_TOKENS, "stride": stride, "align": align, "pooling": "mean", "quantisation": scheme_of(onnx_path),
                    "versions": {"onnxruntime": metadata.version("onnxruntime"), "tokenizers": metadata.version("tokenizers")}},
        **summary, **(manifest_extra or {}),
    }
    model.runner = None
    path = save_bundle(model, out_dir, manifest, policy, files={"encoder.onnx": onnx_path, "tokenizer.json": tokenizer_path})
    record_probe(path)
    return path, summary


def base_site_provenance(base: Bundle) -> dict:
    """The manifest entry naming the site comments ``base``'s TF-IDF heads were trained on (its ``site_data``: file,
    SHA-256, rows, weight, ``split_from`` and the trained texts' fingerprint), for an encoder bundle built around them;
    empty for a base without site data.

    The encoder bundle serves those heads (the cascade's first pass, the toxicity blend, claims, word spans), so the
    checks that read ``site_data`` (``moderate compare --drop-trained``, ``moderate models list``, ``/v1/model``,
    ``site_data.trained_on_file`` and ``saw_held_out_rows``, ``trained_texts.trained_rows`` in notebooks 04 and 05)
    must find there what they find in the base's manifest, or a site's held-out figures would count trained rows.
    """
    site = base.manifest.get("site_data")
    return {"site_data": dict(site)} if site else {}


def record_probe(path: Path) -> dict:
    """Score the fixed probe texts with the saved bundle as served (one thread, in the bundle's own mode, whatever
    ``$MODERATION_ENCODER_MODE`` says) and store them in its manifest."""
    manifest_path = Path(path) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    bundle = load_bundle(path, encoder_threads=1, encoder_mode=manifest.get("mode"))
    probe = {"texts": list(PROBE_TEXTS), "scores": probe_scores(bundle.model, bundle.attributes)}
    manifest["probe"] = probe
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return probe



def rewindow_bundle(source: str | Path, out_dir: Path, version: str, align: str = "sentences",
                    stride: int | None = None, validation: Mapping[str, pd.DataFrame] | None = None,
                    sentence_margin: float | None = None, **readings: bool | None) -> dict:
    """A copy of encoder bundle ``source`` that reads comments otherwise, every choice of it kept.

    The encoder, calibration, blend, band, claim head, span floor and thresholds are ``source``'s, chosen on its own
    readings; only ``manifest.json`` → ``encoder.align`` / ``encoder.stride`` (long comments' windows: a comment
    of up to one window's pieces scores exactly as before) and the readings ``model.encoder.READINGS`` change:
    ``undisguised=True`` also reads each comment with its disguises undone (``wider_disguises=True``: more of them;
    ``one_letter_words=True``: "a l o s e r" read "a loser", not "aloser"; ``symbol_disguises=True``: "(i)(d)(i)(o)(t)",
    "i d 1 o t" and "b@stard" undone too),
    ``sentences=True`` each sentence of a comment of one window on its own (``model.encoder.EncoderRunner``; a comment without a disguise, or of one
    sentence, scores exactly as before); ``None`` (or not given) keeps ``source``'s. A sentence read alone has
    ``sentence_margin`` taken off its logits: given, else ``source``'s, else the one of ``SENTENCE_MARGINS`` whose served
    validation toxicity ROC AUC is highest on average (the smaller on a tie; 0 without ``validation``), the figures
    kept in ``windows_from.sentence_margin_selection``. The probes are scored again and
    ``windows_from`` records what the bundle was made from. With ``validation`` (name -> ``text``, ``label``),
    ``windows_from.validation_toxicity_auc`` holds the served toxicity ROC AUC of each validation set before and
    after, the evidence that the kept choices still fit. The copy is written beside ``out_dir``, in
    ``.<its name>.partial-<pid>``, and renamed at the end (``model.versions.written_whole``), so a failed run leaves no
    bundle; such folders that a killed run left are removed first, as ``moderate train`` does.

    Returns
    -------
    dict
        The new manifest.
    """
    from model.scoring import Scorer
    from model.training.train import created_now

    folder, manifest, stride, chosen = check_rewindow(source, out_dir, align, stride, sentence_margin, **readings)
    spec = manifest["encoder"]
    before = {"align": spec.get("align", "stride"), "stride": spec["stride"]}
    for name in READINGS:  # bundles that never named a reading keep their record as it was
        if readings.get(name) is not None or name in spec:
            before[name] = spec.get(name, False)
    if "sentence_margin" in spec:
        before["sentence_margin"] = spec["sentence_margin"]
    margins = _sentence_margins(chosen["sentences"], sentence_margin, spec, bool(validation))
    out_dir = Path(out_dir)
    remove_abandoned_partial_folders(out_dir.resolve().parent)  # left by a copy or training that was killed
    with written_whole(out_dir, overwrite=False) as partial:
        shutil.copytree(folder, partial, dirs_exist_ok=True)
        origin = {"version": manifest["model_version"], **before, "kept": "every choice of the bundle"}
        if validation:
            log.info("validation toxicity ROC AUC of %s as it reads (six sets, about a minute)", manifest["model_version"])
            origin["validation_toxicity_auc"] = {"before": _served_toxicity_auc(folder, manifest.get("mode"), validation)}
        manifest = {key: value for key, value in manifest.items() if key not in ("test_metrics", "probe")}
        encoder = {**{key: value for key, value in spec.items() if key not in (*READINGS, "sentence_margin")},
                   "align": align, "stride": stride, **{name: True for name, on in chosen.items() if on}}

        def write(margin: float | None) -> None:
            manifest["encoder"] = {**encoder, **({} if margin is None else {"sentence_margin": margin})}
            (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

        manifest |= {"model_version": version, "created": created_now(), "windows_from": origin}
        after = {}
        for margin in margins:
            write(margin)
            if validation:
                log.info("validation toxicity ROC AUC of the copy%s",
                         "" if margin is None else f" with sentence margin {margin} ({margins.index(margin) + 1} of {len(margins)})")
                after[margin] = _served_toxicity_auc(partial, manifest.get("mode"), validation)
        if validation:
            mean_auc = {margin: round(float(np.mean(list(aucs.values()))), 4) for margin, aucs in after.items()}
            best = max(margins, key=lambda margin: (mean_auc[margin], -(margin or 0.0)))
            if len(margins) > 1:
                origin["sentence_margin_selection"] = {
                    "rule": "highest mean validation toxicity ROC AUC, the smaller margin on a tie",
                    "mean_validation_toxicity_auc": {str(margin): auc for margin, auc in mean_auc.items()}}
            origin["validation_toxicity_auc"]["after"] = after[best]
            write(best)
        manifest["probe"] = record_probe(partial)
        Scorer.load(partial)  # every file verifies as saved
    return manifest


def _sentence_margins(sentences: bool, given: float | None, spec: Mapping, can_choose: bool) -> list[float | None]:
    """The sentence margins ``rewindow_bundle`` tries (``[None]``: no sentences read alone): ``given``, else the
    source's, else ``SENTENCE_MARGINS`` when validation data can choose, else 0."""
    if not sentences:
        return [None]
    if given is not None:
        return [float(given)]
    if spec.get("sentences") and "sentence_margin" in spec:
        return [spec["sentence_margin"]]
    return list(SENTENCE_MARGINS) if can_choose else [0.0]


def check_rewindow(source: str | Path, out_dir: Path, align: str, stride: int | None,
                   sentence_margin: float | None = None, **readings: bool | None
                   ) -> tuple[Path, dict, int, dict[str, bool]]:
    """``source``'s folder, manifest, and the stride and readings (``model.encoder.READINGS``: name -> on) a
    rewindowed copy gets (a stride or reading of ``None``: the source's); ``ValueError`` or ``FileExistsError`` with
    what to fix when ``rewindow_bundle`` cannot make it (checked before any data is read)."""
    from model.bundle import verify_bundle

    unknown = sorted(set(readings) - set(READINGS))
    if unknown:
        raise ValueError(f"readings {', '.join(unknown)} unknown: an encoder reads {', '.join(READINGS)}")
    for name, value in readings.items():
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: True, False, or None for the bundle's own")
    if sentence_margin is not None and not is_sentence_margin(sentence_margin):
        raise ValueError(f"sentence margin {sentence_margin!r}: a number of at least 0")
    folder, manifest, _ = verify_bundle(source)
    spec = manifest.get("encoder")
    if spec is None:
        raise ValueError(f"{folder} has no encoder: only an encoder bundle reads comments in windows")
    stride = spec["stride"] if stride is None else stride
    check_windows(align, stride)
    before = {name: spec.get(name, False) for name in READINGS}
    chosen = {name: before[name] if readings.get(name) is None else readings[name] for name in READINGS}
    problem = readings_problem(chosen)
    if problem:
        name, missing = unmet_reading(chosen)
        add = " and ".join(f"{needed}=True (--{needed.replace('_', '-')})" for needed in missing)
        raise ValueError(f"{problem}: add {add}, or {name}=False (--no-{name.replace('_', '-')})")
    if sentence_margin is not None and not chosen["sentences"]:
        raise ValueError(f"a sentence margin of {sentence_margin} with no sentences read alone: add sentences=True "
                         "(--sentences)")
    same_margin = sentence_margin is None or sentence_margin == spec.get("sentence_margin", 0.0)
    if (spec.get("align", "stride"), spec["stride"], before) == (align, stride, chosen) and same_margin:
        raise ValueError(f"{folder} already reads windows aligned to {align!r} with stride {stride}"
                         + "".join(f" and {said}" for name, said in READINGS.items() if before[name])
                         + ": a copy would change nothing")
    if Path(out_dir).exists():
        raise FileExistsError(f"{out_dir} exists: remove it or choose another --version")
    return folder, manifest, stride, chosen


def _served_toxicity_auc(path: Path, mode: str | None, validation: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """ROC AUC of the toxicity each validation set is served with by the bundle at ``path`` in ``mode`` (its own)."""
    from model.parallel import usable_cores

    bundle = load_bundle(path, encoder_threads=usable_cores(), encoder_mode=mode)
    column = list(bundle.attributes).index("toxicity")
    return {name: round(_auc(frame["label"].to_numpy(int), bundle.model.predict_proba(frame["text"].tolist())[:, column]), 4)
            for name, frame in validation.items()}
