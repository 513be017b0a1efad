"""The model page (admins): the bundle in use, its model card, ``moderate eval``'s metrics and plots, the bias table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nh3
from flask import abort, current_app, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from markdown_it import MarkdownIt
from markupsafe import Markup

from model.spans import COMMENT_FLOOR, served_span_thresholds
from service.config import DEFAULT_REPORTS_DIR, EXTENSION_KEY, PROJECT_ROOT
from service.ui.blueprint import bp
from service.ui.signin import signed_in

MODEL_CARD = "MODEL_CARD.md"
EVAL_JSON = "eval.json"
PLOTS_DIR = "plots"
PLOT_SUFFIX = ".png"
BIAS_COLUMNS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
"""The per-identity AUCs of ``model.evaluation.bias`` shown on the model page (their keys in eval.json)."""
METRICS = ("roc_auc", "pr_auc", "brier")
CARD_TOP_HEADING = 3
"""The level of MODEL_CARD.md's ``#`` headings on the page: under its own ``<h2>Model card</h2>``, below its one ``<h1>``."""
MAX_HEADING = 6
CURVES = "ROC, precision-recall and reliability curves"
PLOT_DESCRIPTIONS = {
    "curves": f"{CURVES} of ours and the baselines on {{section}}; the metrics table above gives their areas and Brier scores",
    "attributes": f"{CURVES} of every attribute of ours on {{section}}; the metrics table above gives their areas and Brier scores",
    "flag_rates": "Bars: the share of each kind of unit flagged as an unsupported claim, ours beside the cue baseline",
}
"""What each kind of plot ``moderate eval`` writes shows, as its image's text alternative (``{section}``: the test set)."""
TABLE_SCROLL = "table-scroll"
"""The class of the box a table scrolls in when wider than the window (ui.css, tables.js), as the templates' tables do."""


def reports_dir() -> Path:
    """Where ``moderate eval`` wrote its report (``REPORTS_DIR``, default ``reports/``)."""
    return Path(current_app.config.get("REPORTS_DIR") or DEFAULT_REPORTS_DIR)


def render_markdown(source: str, top_heading: int = 1) -> Markup:
    """Markdown as HTML that is safe to embed: raw HTML in the source is escaped, then the result is sanitised.

    ``#`` headings become ``<h{top_heading}>`` (the others follow, down to ``<h6>``), so a document embedded in a page
    keeps the page's outline; a table's header cells head their columns (``scope="col"``) and it scrolls inside its own
    box (``<div class="table-scroll">``), so that a wide one does not make the whole page scroll sideways.
    """
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    markdown.add_render_rule("table_open", _table_open)
    markdown.add_render_rule("table_close", _table_close)
    tokens = markdown.parse(source)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + top_heading - 1, MAX_HEADING)}"
        elif token.type == "th_open":
            token.attrSet("scope", "col")
    html = markdown.renderer.render(tokens, markdown.options, {})
    return Markup(nh3.clean(html, tag_attribute_values={"div": {"class": {TABLE_SCROLL}}}))


def _table_open(renderer, tokens, idx, options, env) -> str:
    return f'<div class="{TABLE_SCROLL}">' + renderer.renderToken(tokens, idx, options, env)


def _table_close(renderer, tokens, idx, options, env) -> str:
    return renderer.renderToken(tokens, idx, options, env) + "</div>"


def model_card_path(bundle_path: Path) -> Path | None:
    """The bundle's own MODEL_CARD.md, else the project's; None when there is neither."""
    for candidate in (bundle_path / MODEL_CARD, PROJECT_ROOT / MODEL_CARD):
        if candidate.is_file():
            return candidate
    return None


def shown_path(path: Path) -> str:
    """``path`` relative to the project when inside it (shorter, and no need to show where it is installed)."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def read_eval_report(directory: Path) -> tuple[dict | None, str | None]:
    """eval.json's contents, or None and why not (absent, unreadable)."""
    path = directory / EVAL_JSON
    if not path.is_file():
        return None, f"There is no {path}: run `moderate eval` (make eval) to make one."
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path} cannot be read: {error}"


def metric_rows(report: dict) -> list[dict[str, Any]]:
    """One row per (set, scorer) with ROC AUC, PR AUC and Brier, ours first, then the baselines."""
    rows = []
    for set_name, found in (report.get("sets") or {}).items():
        for attribute, values in (found.get("attributes") or {}).items():
            rows.append({"set": set_name, "scorer": attribute, **{name: values.get(name) for name in METRICS}})
        for baseline, values in (found.get("baselines") or {}).items():
            rows.append({"set": set_name, "scorer": f"baseline: {baseline.replace('_', ' ')}", **{name: values.get(name) for name in METRICS}})
    return rows


def plot_description(section: str, kind: str) -> str:
    """What a plot shows, for its alt text: PLOT_DESCRIPTIONS, or its section and kind for a kind not known here."""
    described = PLOT_DESCRIPTIONS.get(str(kind))
    return described.format(section=section) if described else f"Evaluation plot of {section}: {kind}"


def plots(report: dict) -> list[tuple[str, str, str]]:
    """(caption, file name in plots/, what it shows) of every plot eval.json lists that exists."""
    found = []
    sections = [(name, data.get("plots") or {}) for name, data in (report.get("sets") or {}).items()]
    claims = report.get("claims")
    if isinstance(claims, dict):
        sections.append(("claims", claims.get("plots") or {}))
    for section, listed in sections:
        entries = listed.items() if isinstance(listed, dict) else enumerate(listed)
        for kind, relative in entries:
            name = Path(str(relative)).name
            if name.endswith(PLOT_SUFFIX) and (reports_dir() / PLOTS_DIR / name).is_file():
                found.append((f"{section}: {kind}", name, plot_description(section, kind)))
    return found


def bias_table(report: dict) -> tuple[list[str], list[list[Any]]] | None:
    """The identity-bias metrics of ``moderate eval`` (eval.json's ``bias`` section) as (columns, rows); None without.

    One row per set and identity: rows and hostile rows mentioning it, its subgroup, BPSN and BNSP ROC AUC,
    the share of its civil rows flagged at the review thresholds, and whether it counts towards the targets.
    """
    sets = (report.get("bias") or {}).get("sets") if isinstance(report.get("bias"), dict) else None
    if not isinstance(sets, dict) or not sets:
        return None
    rows = [
        [set_name, identity, metrics.get("n_rows"), metrics.get("n_positive"), *(metrics.get(name) for name in BIAS_COLUMNS),
         metrics.get("negative_flagged"), "yes" if metrics.get("scored") else "too few rows"]
        for set_name, result in sets.items()
        for identity, metrics in (result.get("identities") or {}).items()
    ]
    columns = ["set", "identity", "rows", "hostile rows", *BIAS_COLUMNS, "civil flagged", "counted"]
    return (columns, rows) if rows else None


def span_floor(scorer) -> tuple[float | None, str]:
    """The floor under which no hostility word is marked, as served, and where it comes from: the policy's
    ``[spans]`` section, else the bundle's own floor; ``(None, why)`` for a bundle that marks no words."""
    thresholds = served_span_thresholds(scorer.bundle.model, scorer.policy.span_floor)
    if thresholds is None:
        return None, "this bundle marks no words"
    if scorer.policy.span_floor is not None:
        return scorer.policy.span_floor, "the policy's [spans] floor"
    if thresholds.get(COMMENT_FLOOR) is None:
        return None, "none: words are marked at every comment score"
    return thresholds[COMMENT_FLOOR], "the bundle's own"


@bp.get("/model")
@signed_in(admin=True)
def model() -> ResponseReturnValue:
    """The model page."""
    scorer = current_app.extensions[EXTENSION_KEY]
    bundle = scorer.bundle
    card_path = model_card_path(Path(bundle.path))
    report, report_problem = read_eval_report(reports_dir())
    return render_template(
        "ui/model.html",
        bundle=bundle,
        bundle_path=shown_path(bundle.path),
        encoder_mode=scorer.encoder_mode,
        policy=scorer.policy,
        span_floor=span_floor(scorer),
        policy_path=shown_path(scorer.policy.source) if scorer.policy.source != "defaults" else None,
        card=render_markdown(card_path.read_text(encoding="utf-8"), CARD_TOP_HEADING) if card_path else None,
        card_path=card_path,
        report=report,
        report_problem=report_problem,
        targets=(report or {}).get("targets") or [],
        metric_rows=metric_rows(report) if report else [],
        plots=plots(report) if report else [],
        bias=bias_table(report) if report else None,
        metrics=METRICS,
    )


@bp.get("/model/plots/<name>")
@signed_in(admin=True)
def plot(name: str) -> ResponseReturnValue:
    """A PNG plot from the report's plots folder (nothing else is served from there)."""
    if not name.endswith(PLOT_SUFFIX):
        abort(404)
    return send_from_directory(reports_dir() / PLOTS_DIR, name, mimetype="image/png")
