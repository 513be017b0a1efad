"""The review queue: comments the service sent to review, newest first, and a moderator's approve or reject.

An item is a decision-log row with decision ``review`` and a stored text (``STORE_TEXT``) that no
moderator has decided yet. Deciding stores feedback (source ``ui``, the moderator's name, the row's
id and its API key), which ``moderate feedback export`` writes out for retraining, and takes the item off the queue.
A comment's "site" is the API key it was sent with: give each site its own key. The feedback carries that key, so
two sites' comment 17 stay two comments and a site's later correction through the API replaces the page's decision.
A long comment shows its start, the rest folded in a ``<details>`` (``shown_text``), so that 25 of them do not make a
page of scrolling; one longer than any API scores (only Coral's endpoint logs such, withheld unscored) is cut, with a
link to a page of its own (``whole_comment``) that shows all of it and takes the decision, so an insult buried past
the cut is read before the comment is approved, and the queue stays light.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.attributes import ATTRIBUTES
from model.policy import APPROVE, REJECT, REVIEW, THREAT_PHRASE
from service.auth import list_keys
from service.coral import TOO_LONG
from service.store import DecisionRecord, Feedback, get_session, save_feedback
from service.ui.blueprint import bp
from service.ui.explain import reason_label
from model.characters import whole_characters
from service.ui.signin import local_target, page_path, signed_in, wants_json

PAGE_SIZE = 25
FEEDBACK_SOURCE = "ui"
DECISIONS = (APPROVE, REJECT)
REASON_CODES = (*ATTRIBUTES, THREAT_PHRASE, TOO_LONG)
"""The reasons a comment can be sent to review for, offered by the reason filter."""
NOT_IN_QUEUE = "That comment is not in the review queue."
NO_KEY = "none"
"""The site filter's value for comments sent without an API key (``AUTH_REQUIRED`` off)."""
MAX_ROW_ID = 2**63 - 1
"""The largest id SQLite's INTEGER and PostgreSQL's BIGINT hold; the queue's site and page filters are ids."""
FOLD_OVER_CHARS = 1_500
"""A comment longer than this shows its first ``SHOWN_CHARS`` characters and folds the rest away."""
FOLD_OVER_LINES = 30
SHOWN_LINES = 20
"""A comment of more lines than ``FOLD_OVER_LINES`` shows at most its first ``SHOWN_LINES`` and folds the rest away:
1,400 line breaks in 1,452 characters (a short comment) drew 37 screens, its last line (spam) far below the buttons."""
SHOWN_CHARS = 1_000
"""Characters of a long comment shown before the fold, ended at a space when there is one in its last ``WORD_CHARS``."""
WORD_CHARS = 100
"""How far back from ``SHOWN_CHARS`` (or the page's limit) the cut looks for a space, so as not to cut a word."""


@dataclass(frozen=True)
class ShownText:
    """A queued comment as the page shows it: ``head`` always, ``rest`` folded (empty when the comment is short), and
    the number of characters past the page's limit, not sent at all."""

    head: str
    rest: str
    n_not_shown: int


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` at about ``limit`` characters: after the last space in the ``WORD_CHARS`` before it, else at
    ``limit`` widened to whole characters (an emoji or an accented letter is never split)."""
    start = max(0, limit - WORD_CHARS)  # rfind reads a negative start from the end
    space = max(text.rfind(" ", start, limit), text.rfind("\n", start, limit))
    return space + 1 if space >= 0 else whole_characters(text, limit, limit)[1]


def shown_text(text: str, max_chars: int) -> ShownText:
    """``text`` as the queue shows it: whole up to ``FOLD_OVER_CHARS``, else its start and the rest folded, up to
    ``max_chars`` characters in all (the longest comment an API scores); the page says how many more it left out."""
    end = len(text) if len(text) <= max_chars else _cut(text, max_chars)
    if end <= FOLD_OVER_CHARS and text.count("\n", 0, end) <= FOLD_OVER_LINES:
        return ShownText(text[:end], "", len(text) - end)
    fold = min(_cut(text, SHOWN_CHARS), _after_lines(text, SHOWN_LINES))
    return ShownText(text[:fold], text[fold:end], len(text) - end)


def _after_lines(text: str, n_lines: int) -> int:
    """Where ``text``'s first ``n_lines`` lines end (after their last line break), or its end when it has fewer."""
    position = -1
    for _ in range(n_lines):
        position = text.find("\n", position + 1)
        if position < 0:
            return len(text)
    return position + 1


def longest_shown(config: Mapping[str, Any]) -> int:
    """The longest text the queue shows whole: the longest any API scores (``MAX_COMMENT_CHARS``, Perspective's
    ``PERSPECTIVE_MAX_TEXT_CHARS``); Coral's endpoint logs longer ones, withheld unscored, of up to ``MAX_CONTENT_LENGTH``."""
    return max(int(config["MAX_COMMENT_CHARS"]), int(config["PERSPECTIVE_MAX_TEXT_CHARS"]))


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters from the query string; unknown or malformed values are reported, not guessed."""

    reason: str | None = None
    site: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    before: int | None = None

    @classmethod
    def from_args(cls, args: dict[str, str]) -> tuple[QueueFilter, dict[str, str]]:
        """Parse ``reason``, ``site``, ``since``, ``until`` (YYYY-MM-DD) and ``before`` (an item id); return the problems
        too, each under the name of the argument it is about (so the page can tie it to its field)."""
        problems = {}
        reason = args.get("reason") or None
        if reason is not None and reason not in REASON_CODES:
            problems["reason"] = f"There is no reason called {reason!r}; choose one from the list."
            reason = None
        site = args.get("site") or None
        if site is not None and site != NO_KEY and not _row_id(site):
            problems["site"] = "Choose the site from the list."
            site = None
        dates = {}
        for name in ("since", "until"):
            try:
                dates[name] = dt.date.fromisoformat(args[name]) if args.get(name) else None
            except ValueError:
                problems[name] = f"The {'from' if name == 'since' else 'to'} date must look like 2026-12-31."
                dates[name] = None
        if dates["since"] is not None and dates["until"] is not None and dates["until"] < dates["since"]:
            # Swapped dates matched nothing, and the page said only "0 comments waiting that match the filters".
            problems["until"] = "The to date is before the from date; choose a to date on or after it."
            dates["until"] = None
        before = args.get("before") or None
        if before is not None and not _row_id(before):
            problems["before"] = "The page position is not an item number; go back to the first page."
            before = None
        return cls(reason, site, dates["since"], dates["until"], int(before) if before else None), problems

    def query_args(self) -> dict[str, str]:
        """The filters as query-string arguments (without the page position)."""
        values = {"reason": self.reason, "site": self.site, "since": self.since, "until": self.until}
        return {name: str(value) for name, value in values.items() if value is not None}


def _row_id(value: str) -> bool:
    """Whether ``value`` is a number a row id can be: databases refuse a bound integer above 2**63 - 1 (a 500), and
    Python refuses to read one of over 4,300 digits (a ValueError, a 500 too), so a longer one is not read at all."""
    return value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ROW_ID)) and int(value) <= MAX_ROW_ID


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def waiting_items(queue_filter: QueueFilter) -> Select:
    """The query of undecided review items with stored text that match the filter, newest first."""
    query = select(DecisionRecord).where(DecisionRecord.decision == REVIEW, DecisionRecord.text.is_not(None),
                                         ~exists().where(_verdict_on(DecisionRecord)))
    if queue_filter.reason is not None:
        # Reasons are a JSON list of codes; a code is matched with its quotes, so "threat" does not match "threat_phrase".
        query = query.where(cast(DecisionRecord.reasons, String).contains(f'"{queue_filter.reason}"', autoescape=True))
    if queue_filter.site == NO_KEY:
        query = query.where(DecisionRecord.api_key_id.is_(None))
    elif queue_filter.site is not None:
        query = query.where(DecisionRecord.api_key_id == int(queue_filter.site))
    if queue_filter.since is not None:
        query = query.where(DecisionRecord.created_at >= _start_of(queue_filter.since))
    if queue_filter.until is not None and queue_filter.until < dt.date.max:  # the last day has no next day: no bound
        query = query.where(DecisionRecord.created_at < _start_of(queue_filter.until + dt.timedelta(days=1)))
    return query.order_by(DecisionRecord.id.desc())


def reviews_without_text(session: Session) -> int:
    """How many review decisions were logged without their text (STORE_TEXT was off), so cannot be shown."""
    return session.scalar(select(func.count()).where(DecisionRecord.decision == REVIEW, DecisionRecord.text.is_(None))) or 0


@bp.get("/queue")
@signed_in()
def queue() -> ResponseReturnValue:
    """The review queue page: filters, then up to PAGE_SIZE items, each with approve and reject buttons, and links to
    the older comments and (from an older page) back to the newest."""
    session = get_session()
    queue_filter, problems = QueueFilter.from_args(request.args)
    query = waiting_items(queue_filter)
    if queue_filter.before is not None:
        query = query.where(DecisionRecord.id < queue_filter.before)
    items = list(session.scalars(query.limit(PAGE_SIZE + 1)))
    has_older = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    keys = list_keys(session)
    return render_template(
        "ui/queue.html",
        items=items,
        older=items[-1].id if has_older else None,
        queue_filter=queue_filter,
        problems=problems,
        reasons=[(code, reason_label(code)) for code in REASON_CODES],
        # A rotated key (revoked, a new one of the same name) is named apart: two "siteB" split the site's queue.
        sites=[(str(key.id), key.name if key.revoked_at is None else f"{key.name} (key {key.id}, revoked)") for key in keys],
        site_names={key.id: key.name for key in keys},
        no_key=NO_KEY,
        store_text=bool(current_app.config["STORE_TEXT"]),
        n_without_text=reviews_without_text(session),
        n_waiting=session.scalar(select(func.count()).select_from(waiting_items(queue_filter).order_by(None).subquery())),
        reason_label=reason_label,
        shown_text=shown_text,
        longest_shown=longest_shown(current_app.config),
        here=page_path(),
        newest=url_for("ui.queue", **queue_filter.query_args()),
    ), 400 if problems else 200


def queue_item(session: Session, item_id: int) -> DecisionRecord:
    """The review item ``item_id`` (decided or not), or a 404 page; an id no database holds (over ``MAX_ROW_ID``) is
    one too, not the driver's OverflowError (a 500)."""
    item = session.get(DecisionRecord, item_id) if item_id <= MAX_ROW_ID else None
    if item is None or item.decision != REVIEW or item.text is None:
        abort(404, description=NOT_IN_QUEUE)
    return item


def _verdict_on(item: Any) -> ColumnElement[bool]:
    """Feedback that decides a review item: given on this page for it, or sent through the API (``/v1/feedback``) by the
    key that logged it, on the same comment id, since it was logged. The site's own verdict takes the comment off the
    queue, where an editor would redo the work and could overturn it in training; a comment scored again later (an
    edit) is a new item, which that verdict does not decide."""
    here = Feedback.decision_id == item.id
    if not isinstance(item, type) and (item.api_key_id is None or item.comment_id is None):
        return here  # a loaded row's None would be compared as IS NULL, matching every verdict without a key or an id
    # Sent without an item (the API, Coral, suggestscore): a verdict given here on an older item of the same comment
    # (before an edit) decides that item, not this one.
    through_the_api = and_(Feedback.decision_id.is_(None), Feedback.api_key_id == item.api_key_id,
                           Feedback.comment_id == item.comment_id, Feedback.created_at >= item.created_at)
    return or_(here, through_the_api)


def decided_by(session: Session, item_id: int) -> str | None:
    """Who decided the item (``"Another moderator"`` for feedback without a name, ``"The site's API"`` for a verdict
    sent through it), or None while it waits."""
    item = session.get(DecisionRecord, item_id)
    earlier = None if item is None else session.scalar(select(Feedback).where(_verdict_on(item)).order_by(Feedback.id).limit(1))
    if earlier is None:
        return None
    if earlier.moderator:
        return earlier.moderator
    return "Another moderator" if earlier.decision_id == item_id else "The site's API"


def _already_decided(who: str) -> NoReturn:
    """The 409 of a decision on an item ``who`` (``decided_by``) decided first."""
    abort(409, description=f"{who} has already decided this comment.")


@bp.get("/queue/<int:item_id>/text")
@signed_in()
def whole_comment(item_id: int) -> ResponseReturnValue:
    """One queue item's whole text, however long, with its approve and reject buttons (which go back to ``next``)."""
    session = get_session()
    item = queue_item(session, item_id)
    return render_template(
        "ui/comment.html",
        item=item,
        site_name=next((key.name for key in list_keys(session) if key.id == item.api_key_id), "no key"),
        decided_by=decided_by(session, item.id),
        reason_label=reason_label,
        back=local_target(request.args.get("next")),
    )


@bp.post("/queue/<int:item_id>")
@signed_in()
def decide(item_id: int) -> ResponseReturnValue:
    """Store the moderator's approve or reject of one queue item as feedback; 409 when it was already decided."""
    decision = request.form.get("decision")
    if decision not in DECISIONS:
        abort(400, description="Choose approve or reject.")
    session = get_session()
    item = queue_item(session, item_id)
    shown = request.form.get("text_sha256")
    if shown and shown != item.text_sha256:  # deleted (db forget, prune) since the page was drawn, its number reused
        abort(409, description="This comment is no longer the one the page showed (it was deleted since, and its number "
                               "given to another): reload the queue.")
    earlier = decided_by(session, item.id)
    if earlier is not None:  # a verdict through the API is no unique-key conflict: checked here
        _already_decided(earlier)
    try:
        feedback_id = save_feedback(
            comment_id=item.comment_id,
            text=item.text,
            decision=decision,
            labels=None,
            source=FEEDBACK_SOURCE,
            moderator=g.user.name,
            decision_id=item.id,
            api_key_id=item.api_key_id,
        )
    except IntegrityError:  # feedback.decision_id is unique: another moderator was first
        session.rollback()
        _already_decided(decided_by(session, item_id) or "Another moderator")
    if wants_json():
        return jsonify({"id": feedback_id, "item": item_id, "decision": decision})
    # Without the script the queue came back with no word that the decision was saved.
    which = f"comment {item.comment_id}" if item.comment_id else f"item {item.id}"
    flash(f"{'Approved' if decision == APPROVE else 'Rejected'} {which}.")
    return redirect(local_target(request.form.get("next")), code=303)
