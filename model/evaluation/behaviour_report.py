"""Run the behaviour sets and the long-comment check on a scorer: pass rates, failing ids, the eval.md table.

``python -m model.evaluation.behaviour_report [--model VERSION_OR_DIR]`` prints the one-batch pass counts of
``eval.md`` and the failing ids as ``tests/test_behaviour.py`` finds them (a pair at a time), ready to paste into
its ``KNOWN_FAILURES`` when a new bundle ships.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import numpy as np

from model.attributes import CLAIM_ATTRIBUTE
from model.evaluation.behaviour import CATEGORIES, LONG_COMMENT_ID, PAIRS, BehaviourPair, long_comment
from model.evaluation.bias import flagged_at_review
from model.evaluation.bias_report import review_thresholds
from model.evaluation.report_format import format_number, format_pair
from model.policy import APPROVE
from model.results import Decision


def pair_scores(scorer, pairs: Sequence[BehaviourPair] = PAIRS) -> np.ndarray:
    """``(n_pairs, 2)`` scores on each pair's attribute: column 0 the hostile form, column 1 the civil twin."""
    scores = scorer.predict_scores([text for pair in pairs for text in (pair.hostile, pair.civil)])
    columns = [list(scorer.attributes).index(pair.attribute) for pair in pairs]
    rows = np.arange(len(pairs))
    return np.column_stack([scores[2 * rows, columns], scores[2 * rows + 1, columns]])


def long_comment_passes(decision: Decision, begin: int, end: int) -> bool:
    """The buried sentence is caught: the decision is not approve, for a hostility reason (an unsupported-claim flag
    on the civil text does not count), and a hostility span lies inside [begin, end)."""
    hostile_reason = any(reason.attribute != CLAIM_ATTRIBUTE for reason in decision.reasons)
    inside = any(begin <= span.begin and span.end <= end
                 for attribute, spans in decision.spans.items() if attribute != CLAIM_ATTRIBUTE for span in spans)
    return decision.action != APPROVE and hostile_reason and inside


def check_long_comment(scorer) -> dict:
    """Moderate the long comment (``model.evaluation.behaviour.long_comment``) and say whether it passes."""
    text, begin, end = long_comment()
    decision = scorer.moderate([text], with_spans=True)[0]
    return {"id": LONG_COMMENT_ID, "n_words": len(text.split()), "action": decision.action,
            "reasons": sorted({reason.code for reason in decision.reasons}),
            "toxicity": decision.scores.get("toxicity"), "passed": long_comment_passes(decision, begin, end)}


def evaluate_behaviour(scorer, pairs: Sequence[BehaviourPair] = PAIRS) -> dict:
    """Pass rate per category (hostile form scored above its civil twin), the share of civil twins a hostility score
    flags at the policy's review thresholds, the failing ids and the long-comment check.

    Pairs on an attribute the scorer does not score are left out and counted in ``n_skipped``.
    """
    n_given = len(pairs)
    pairs = [pair for pair in pairs if pair.attribute in scorer.attributes]
    scores = pair_scores(scorer, pairs) if pairs else np.zeros((0, 2))
    passed = scores[:, 0] > scores[:, 1]
    civil_flagged = flagged_at_review(scorer.predict_scores([pair.civil for pair in pairs]), scorer.attributes,
                                      review_thresholds(scorer)) if pairs else np.zeros(0, dtype=bool)
    categories = {}
    for category in CATEGORIES:
        chosen = [i for i, pair in enumerate(pairs) if pair.category == category]
        if chosen:
            categories[category] = {"n_pairs": len(chosen), "n_passed": int(passed[chosen].sum()),
                                    "pass_rate": float(passed[chosen].mean()),
                                    "civil_flagged": float(civil_flagged[chosen].mean())}
    return {"categories": categories, "n_pairs": len(pairs), "n_skipped": n_given - len(pairs), "pass_rate": float(passed.mean()) if len(pairs) else float("nan"),
            "civil_flagged": float(civil_flagged.mean()) if len(pairs) else float("nan"),
            "failed": [pair.id for pair, ok in zip(pairs, passed) if not ok],
            "long_comment": check_long_comment(scorer)}


def failing_pairs_one_at_a_time(scorer, pairs: Sequence[BehaviourPair] = PAIRS) -> list[str]:
    """Ids of the pairs whose hostile form does not outscore its civil twin when each pair is scored on its own, as
    ``tests/test_behaviour.py`` scores them (bundles 2.2.0-2.6.0 quantise int8 activations per batch, so a near tie
    can fall the other way in ``evaluate_behaviour``'s one batch)."""
    return [pair.id for pair in pairs if pair.attribute in scorer.attributes
            and not np.greater(*pair_scores(scorer, [pair])[0])]


def failing_ids(result: Mapping) -> list[str]:
    """Every failing id of an ``evaluate_behaviour`` result, the long-comment check included, sorted."""
    extra = [] if result["long_comment"]["passed"] else [result["long_comment"]["id"]]
    return sorted([*result["failed"], *extra])


def _with_total(result: Mapping) -> dict:
    """The per-category rows of a result and an ``all`` row."""
    total = {"n_pairs": result["n_pairs"], "pass_rate": result["pass_rate"], "civil_flagged": result["civil_flagged"],
             "n_passed": sum(row["n_passed"] for row in result["categories"].values())}
    return dict(result["categories"]) | {"all": total}


def behaviour_markdown(result: Mapping, baseline: Mapping | None = None, baseline_version: str | None = None) -> list[str]:
    """The behaviour section of ``eval.md``; with a baseline, its pass rates beside ours."""
    versus = f" / {baseline_version}" if baseline is not None else ""
    lines = ["", "## Behaviour sets", "",
             "Pairs written in the repo (`model/evaluation/behaviour.py`), each a hostile sentence and its civil twin about "
             "the same group or person (in `person_or_idea`, the same rude word aimed at an idea, a policy or a deal, "
             "which a news site approves); a pair passes when the hostile form scores higher on the pair's attribute "
             "(`identity_attack`, `toxicity` or `threat`). The long comment buries one insult in about 5,000 civil words; "
             "it passes when the decision is not approve and a hostility span lies inside the insult.", "",
             "A ranking is a lenient test, so the table also gives the share of civil twins that a hostility score "
             "flags at the policy's review thresholds (lower is better).", "",
             f"| category | pairs | passed (ours{versus}) | pass rate (ours{versus}) | civil twins flagged (ours{versus}) |",
             "|---|---|---|---|---|"]
    rows, base_rows = _with_total(result), _with_total(baseline) if baseline is not None else {}
    for category, row in rows.items():
        other = base_rows.get(category)
        cells = [f"{row['n_passed']}" + (f" / {other['n_passed']}" if other else "")]
        cells += [format_pair(row[key], other and other[key], bool(other)) for key in ("pass_rate", "civil_flagged")]
        lines.append(f"| {category} | {row['n_pairs']} | {' | '.join(cells)} |")
    long = result["long_comment"]

    def outcome(check):
        return (f"{'passed' if check['passed'] else '**failed**'} ({check['action']}, reasons: "
                f"{', '.join(check['reasons']) or 'none'}; toxicity {format_number(check['toxicity'])})")

    lines += ["", f"Long comment ({long['n_words']} words): ours {outcome(long)}"
              + (f"; {baseline_version} {outcome(baseline['long_comment'])}" if baseline is not None else "") + ".",
              "", "Failing pairs (ours): " + (", ".join(f"`{pair_id}`" for pair_id in result["failed"]) or "none") + "."]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Print a bundle's failing behaviour ids as a ``KNOWN_FAILURES`` entry."""
    from model.bundle import BundleError
    from model.scoring import Scorer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Bundle folder or version under bundles/ [default: bundles/CURRENT].")
    args = parser.parse_args(argv)
    try:
        scorer = Scorer.load(args.model)
    except BundleError as error:
        parser.error(str(error))
    result = evaluate_behaviour(scorer)
    for category, row in result["categories"].items():
        print(f"# {category}: {row['n_passed']}/{row['n_pairs']} passed")
    print(f"# long comment: {'passed' if result['long_comment']['passed'] else 'failed'}")
    # The entry is what the test sees: each pair scored on its own, and the long comment.
    as_tested = {**result, "failed": failing_pairs_one_at_a_time(scorer)}
    ids = "".join(f"\n    {pair_id!r}," for pair_id in failing_ids(as_tested))
    print(f"{scorer.model_version!r}: frozenset({{{ids}\n}}),")


if __name__ == "__main__":
    main()
