"""Marshmallow schemas of the ``/v1`` API: they validate requests and generate the OpenAPI document.

Limits come from the app's configuration at request time (``ConfigLength``), so the OpenAPI document
shows the configured ``maxItems``/``maxLength``; what else a field or a body must be (a text's characters, the
attribute names of labels, a feedback's comment and verdict) is written into the document too, so that every body it
accepts is one the endpoint accepts (tests/test_openapi_requests.py). ``load`` turns marshmallow's nested errors into one
message that names each field the way a client writes it: ``comments[2].text must be a string`` (a name over
``MAX_SHOWN_NAME_CHARS`` characters cut with an ellipsis, ``service.errors.shown_name``).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, ClassVar

from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from model.attributes import ATTRIBUTES, HOSTILITY_ATTRIBUTES, LABEL_PROBABILITY_CUT, untoxic_hostility
from model.policy import ACTIONS
from service.errors import ApiError, shown_name
from service.text_rules import NON_EMPTY, TOO_LONG, character_problem, length_problem

INVALID_REQUEST = "invalid_request"
UNKNOWN_FIELD = "is not a known field"
MAX_REPORTED_ERRORS = 3
"""A message names at most this many problems (then "and N more"), so one bad batch stays readable."""

OBJECT_MESSAGE = "must be an object with id and text"
LIST_MESSAGE = "must be a list of {{id, text}} objects"  # a format string: braces doubled
NON_EMPTY_STRING = NON_EMPTY
STRING = "must be a string"


class ConfigLength(validate.Validator):
    """Check ``min <= len(value) <= app.config[key]``.

    It has ``min``, ``max`` and ``equal`` like marshmallow's ``Length``, so apispec documents the
    configured limit as ``maxLength``/``maxItems``.
    """

    equal = None

    def __init__(self, key: str, *, min: int = 0, too_short: str = NON_EMPTY_STRING, too_long: str = TOO_LONG):
        self.key = key
        self.min = min
        self.too_short = too_short
        self.too_long = too_long

    @property
    def max(self) -> int | None:
        """The configured limit (None outside an app context)."""
        return int(current_app.config[self.key]) if has_app_context() else None

    def __call__(self, value: Any) -> Any:
        problem = length_problem(value, int(current_app.config[self.key]), self.min, self.too_short, self.too_long)
        if problem is not None:
            raise ValidationError(problem)
        return value


TEXT_PATTERN = r"^[^\x00]*$"
"""``service.text_rules.character_problem`` as a JSON Schema pattern, as far as every regex engine can say it: no NUL.
An unpaired surrogate (also refused) has no pattern that Rust's or Go's engines compile (their strings are UTF-8),
and their JSON decoders never produce one; the document's description says it (``service.openapi.DESCRIPTION``)."""
NON_BLANK_PATTERN = "[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""A character that ``str.strip`` keeps (``not str.isspace()``), spelt out (``\\S`` differs between Python and
JavaScript) with the characters themselves, not escapes: ``\\u`` and ``\\x{}`` are each unknown to some engine."""


class Text(fields.String):
    """A JSON string whose characters pass ``service.text_rules`` (no NUL, no unpaired surrogate); its
    ``ConfigLength`` validator checks the length. The document gives the character rule as ``TEXT_PATTERN``."""

    def __init__(self, **kwargs: Any):
        super().__init__(**{**kwargs, "metadata": {"pattern": TEXT_PATTERN, **kwargs.get("metadata", {})}})

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        problem = character_problem(value)
        if problem is not None:
            raise ValidationError(problem)
        return value


def text_field(message: str, **kwargs: Any) -> Text:
    """A Text field whose type errors (missing, null, not a string) all read ``message``."""
    return Text(error_messages={"invalid": message, "required": message, "null": message}, **kwargs)


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only; marshmallow's Boolean would also take "yes", 1, "off"..."""

    default_error_messages = {"invalid": "must be true or false", "null": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Labels(fields.Dict):
    """``{attribute: probability}``: known attribute names, numbers in [0, 1] (fractions, not percentages), no hostility
    marked while toxicity is not (``model.attributes.untoxic_hostility``)."""

    default_error_messages = {"invalid": "must be an object of attribute names to probabilities in [0, 1]"}

    def __init__(self, **kwargs: Any):
        # The names, the values' range and the labels refused together (``untoxic_hostility``) are for the OpenAPI
        # document (OpenAPI 3.0 has no propertyNames: one property per attribute, no other); ``_deserialize`` checks all.
        probability = {"type": "number", "minimum": 0, "maximum": 1}
        document = {"properties": {name: probability for name in ATTRIBUTES}, "additionalProperties": False,
                    "not": {"anyOf": [_untoxic(name) for name in HOSTILITY_ATTRIBUTES[1:]]}}
        super().__init__(keys=fields.String(), **{**kwargs, "metadata": {**document, **kwargs.get("metadata", {})}})

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, float]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        problems: dict[str, list[str]] = {}
        for name, score in value.items():
            if name not in ATTRIBUTES:
                problems[name] = [f"is not an attribute; use one of {', '.join(ATTRIBUTES)}"]
            elif isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score) or not 0 <= score <= 1:
                problems[name] = ["must be a probability between 0 and 1"]
        if not problems:
            problems = {name: [_untoxic_problem(name, value)] for name in untoxic_hostility(value)}
        if problems:
            raise ValidationError(problems)
        return {name: float(score) for name, score in value.items()}


def _untoxic(name: str) -> dict:
    """The labels ``untoxic_hostility`` refuses for ``name``, as JSON Schema (OpenAPI 3.0's boolean exclusiveMaximum)."""
    toxicity = HOSTILITY_ATTRIBUTES[0]
    return {"type": "object", "required": [toxicity, name],
            "properties": {toxicity: {"maximum": LABEL_PROBABILITY_CUT, "exclusiveMaximum": True},
                           name: {"minimum": LABEL_PROBABILITY_CUT}}}


def _untoxic_problem(name: str, labels: dict) -> str:
    """What to fix in ``labels`` that mark ``name`` but not toxicity: training would read ``name`` as 0."""
    cut, toxicity = f"{LABEL_PROBABILITY_CUT:g}", labels[HOSTILITY_ATTRIBUTES[0]]
    return (f"is {labels[name]:g}, which marks {name}, but labels.toxicity is {toxicity:g}, under {cut}: {name} is toxic, "
            f"so training would read {name} as 0; raise toxicity to {cut} or more, or lower {name} under {cut}")


class StrictSchema(Schema):
    """Unknown fields are errors: a typo such as ``do_not_stroe`` must not be silently ignored."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN_FIELD}


class ContextSchema(StrictSchema):
    """Where the comment appeared; accepted and validated, not yet used by the model."""

    error_messages = {**StrictSchema.error_messages, "type": "must be an object with parent_text and/or story_url"}

    parent_text = text_field(STRING, allow_none=True, validate=ConfigLength("MAX_COMMENT_CHARS"), metadata={"description": "The comment this one replies to."})
    story_url = text_field(STRING, allow_none=True, validate=ConfigLength("MAX_URL_CHARS"), metadata={"description": "The page the comment was posted on."})


class CommentSchema(StrictSchema):
    """One comment to moderate."""

    error_messages = {**StrictSchema.error_messages, "type": OBJECT_MESSAGE}

    id = text_field(NON_EMPTY_STRING, required=True, validate=ConfigLength("MAX_ID_CHARS", min=1), metadata={"description": "Your id for the comment, echoed in its result."})
    text = text_field(STRING, required=True, validate=ConfigLength("MAX_COMMENT_CHARS"), metadata={"description": "The comment as plain text; may be empty (approved)."})
    context = fields.Nested(ContextSchema, allow_none=True, error_messages={"null": "must be an object"})


COMMENTS_LENGTH = ConfigLength("MAX_COMMENTS_PER_REQUEST", min=1, too_short="must not be empty", too_long="has {n} items; the limit is {limit} per request")


class ModerateRequestSchema(StrictSchema):
    """``POST /v1/moderate`` body."""

    comments = fields.List(
        fields.Nested(CommentSchema, error_messages={"null": OBJECT_MESSAGE}),
        required=True,
        validate=COMMENTS_LENGTH,
        error_messages={"required": "is required", "null": LIST_MESSAGE, "invalid": LIST_MESSAGE},
        metadata={"description": "Comments to moderate, with at most MAX_REQUEST_CHARS characters of text in all (else 413 too_much_text); results come back in the same order."},
    )
    do_not_store = StrictBoolean(load_default=False, metadata={"description": "Keep nothing about these comments, not even a hash."})

    @pre_load
    def _count_comments_first(self, data: Any, **_kwargs: Any) -> Any:
        """Refuse a ``comments`` list over the limit before validating its items: marshmallow checks a list's length
        only after every item, so the 300,000 empty comments that fit in MAX_CONTENT_LENGTH took 4 s of a worker to be
        refused for their number, and a list of 101 bad comments was answered with their fields, not with the limit."""
        comments = data.get("comments") if isinstance(data, dict) else None
        if isinstance(comments, list) and len(comments) > COMMENTS_LENGTH.max:
            try:
                COMMENTS_LENGTH(comments)  # its message, as the field's own check gives it
            except ValidationError as error:
                raise ValidationError(error.messages, field_name="comments") from None
        return data

    @validates_schema
    def _ids_are_distinct(self, data: dict, **_kwargs: Any) -> None:
        """Refuse an id given twice in one request that is logged: feedback names a comment by its id, so it would be
        paired with one of two texts (the export takes the last logged), and a moderator's reject could train on a civil
        comment. With ``do_not_store`` nothing is logged for feedback to find, and repeats are answered as given."""
        if data.get("do_not_store"):
            return
        first: dict[str, int] = {}
        repeats: dict[int, dict[str, list[str]]] = {}
        for index, comment in enumerate(data.get("comments") or ()):
            seen = first.setdefault(comment["id"], index)
            if seen != index:
                repeats[index] = {"id": [f"repeats comments[{seen}].id; give each comment of a request its own id"]}
        if repeats:
            raise ValidationError({"comments": repeats})


class FeedbackRequestSchema(StrictSchema):
    """``POST /v1/feedback`` body: a moderator's final decision and/or labels for one comment."""

    comment_id = text_field(NON_EMPTY_STRING, allow_none=True, validate=ConfigLength("MAX_ID_CHARS", min=1), metadata={"description": "The id sent to /v1/moderate; comment_id or a non-blank text is required."})
    text = text_field(STRING, allow_none=True, validate=ConfigLength("MAX_COMMENT_CHARS"), metadata={"description": "The comment text; kept for retraining (a blank one is not)."})
    decision = fields.String(
        allow_none=True,
        validate=validate.OneOf(ACTIONS, error=f"must be one of {', '.join(ACTIONS)}"),
        error_messages={"invalid": f"must be one of {', '.join(ACTIONS)}", "null": STRING},
        metadata={"description": "The moderator's final decision; decision or labels is required."},
    )
    labels = Labels(allow_none=True, metadata={"description": (
        f"Probabilities in [0, 1] the moderator assigns, by attribute name ({', '.join(ATTRIBUTES)}); "
        f"one of {LABEL_PROBABILITY_CUT:g} or more marks its attribute, and retraining reads these labels before the "
        f"decision. A hostility attribute marked while toxicity is under {LABEL_PROBABILITY_CUT:g} is refused: an "
        "insult, a threat... is toxic.")})

    openapi_rules: ClassVar[dict] = {
        "allOf": [
            {"anyOf": [{"required": ["comment_id"], "properties": {"comment_id": {"type": "string"}}},
                       {"required": ["text"], "properties": {"text": {"type": "string", "pattern": NON_BLANK_PATTERN}}}]},
            {"anyOf": [{"required": ["decision"], "properties": {"decision": {"type": "string"}}},
                       {"required": ["labels"], "properties": {"labels": {"type": "object", "minProperties": 1}}}]},
        ],
    }
    """``_needs_comment_and_verdict`` for the OpenAPI document (``service.openapi`` adds it to the schema): a
    ``type`` without ``nullable`` is not null in OpenAPI 3.0."""

    @validates_schema
    def _needs_comment_and_verdict(self, data: dict, **_kwargs: Any) -> None:
        problems = []
        if data.get("comment_id") is None and not (data.get("text") or "").strip():
            problems.append("comment_id or a non-blank text is required")  # a blank text alone names no comment
        if data.get("decision") is None and not data.get("labels"):
            problems.append("decision or labels is required")
        if problems:
            raise ValidationError(problems)


# Response shapes: documentation only (views build their JSON from model.results directly). ``required=True`` marks
# a field every answer has (the OpenAPI ``required`` list, which generated clients type as always there); a field
# some answers leave out is not required. tests/test_openapi_followups.py checks both against real answers.

CODE_POINTS = "in Unicode code points, as Python indexes a string (an emoji counts one)"
REQUEST_ID = "This request's id, as in the X-Request-ID header."


class ReasonSpanSchema(Schema):
    """A reason's span: its attribute is the reason's own."""

    begin = fields.Integer(required=True, metadata={"description": f"Start offset in the text, {CODE_POINTS}."})
    end = fields.Integer(required=True, metadata={"description": "End offset (exclusive): text[begin:end] are the words."})
    score = fields.Float(required=True, metadata={"description": "The words' probability for the attribute; 1.0 for a threat phrase (a rule fired, not a probability)."})


class SpanSchema(ReasonSpanSchema):
    """Words behind an attribute's score, also when that score stayed below its thresholds."""

    attribute = fields.String(required=True, metadata={"description": "The attribute whose score these words are behind."})


class ReasonSchema(Schema):
    """Why a policy phase acted; fields that do not apply are left out."""

    code = fields.String(required=True, metadata={"description": "The attribute whose score reached its threshold (e.g. toxicity), "
                                                                 "unsupported_claim, threat_phrase (an explicit threat found by a phrase "
                                                                 "rule) or empty (an empty or blank text: code and action only)."})
    action = fields.String(required=True, metadata={"enum": list(ACTIONS)})
    attribute = fields.String()
    score = fields.Float(metadata={"description": "The attribute's score."})
    threshold = fields.Float(metadata={"description": "The threshold it reached; none for threat_phrase."})
    span = fields.Nested(ReasonSpanSchema)
    text = fields.String(metadata={"description": "The span's words."})


class ResultSchema(Schema):
    """One comment's answer."""

    id = fields.String(required=True, metadata={"description": "The comment's id as sent."})
    decision = fields.String(required=True, metadata={"enum": list(ACTIONS)})
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True,
                         metadata={"description": "Calibrated probability per attribute of the bundle."})
    reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    spans = fields.List(fields.Nested(SpanSchema), required=True,
                        metadata={"description": "The words behind each attribute's score, also below its thresholds: "
                                                 "keep those of the attributes that reached one to mark words as a moderator would."})


class ModerateResponseSchema(Schema):
    model_version = fields.String(required=True)
    request_id = fields.String(required=True, metadata={"description": REQUEST_ID})
    results = fields.List(fields.Nested(ResultSchema), required=True, metadata={"description": "One per comment, in input order."})


class FeedbackResponseSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "The stored feedback's id."})
    request_id = fields.String(required=True, metadata={"description": REQUEST_ID})


class DatasetSchema(Schema):
    """A data set behind the bundle, as its manifest records it: a TF-IDF bundle's come with licence, role and
    attributes; an encoder bundle's give the rows it trained on, with the licence of the sets it added to its base's."""

    rows = fields.Integer(required=True, metadata={"description": "Rows of it the bundle trained on (0 for a set it only validated or evaluated on)."})
    license = fields.String(metadata={"description": "Its licence, as the data's publishers give it."})
    role = fields.String(metadata={"description": "training, or validation/evaluation only."})
    attributes = fields.List(fields.String(), metadata={"description": "What its labels mark: attributes, or checkable and supported for claim sets."})
    derived_from = fields.String(metadata={"description": "The set it was made from (toxic_spans_context from toxic_spans)."})


class SplitMetricSchema(Schema):
    """One attribute's ranking quality on an official test split, recorded when the bundle was built."""

    attribute = fields.String(required=True, metadata={"description": "The attribute scored (toxicity, unsupported_claim)."})
    rows = fields.Integer(required=True)
    positives = fields.Integer(required=True, metadata={"description": "Rows labelled as having the attribute."})
    roc_auc = fields.Float(required=True)


class ThresholdsSchema(Schema):
    """The served policy's thresholds: a comment is sent to an action when an attribute's score reaches one."""

    reject = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, metadata={"description": "Attribute -> score that rejects."})
    review = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, metadata={"description": "Attribute -> score that sends to review."})


class ModelCardSchema(Schema):
    """A model card summary of the served bundle: a field its manifest lacks is null (or empty for the mappings)."""

    model_version = fields.String(required=True)
    created = fields.DateTime(required=True, allow_none=True, metadata={"description": "When the bundle was built (UTC); null for bundles that did not record it."})
    attributes = fields.List(fields.String(), required=True, metadata={"description": "The attributes it scores, in score order."})
    intended_use = fields.String(required=True)
    limitations = fields.List(fields.String(), required=True)
    training_rows = fields.Integer(required=True, allow_none=True, metadata={"description": "Rows it was trained on (an encoder bundle's: the encoder's); null when its manifest does not say."})
    datasets = fields.Dict(keys=fields.String(), values=fields.Nested(DatasetSchema), required=True,
                           metadata={"description": "Data set name -> what the bundle took from it."})
    test_metrics = fields.Dict(keys=fields.String(), values=fields.Nested(SplitMetricSchema), required=True,
                               metadata={"description": "Test split -> ranking quality; empty when none was recorded."})
    thresholds = fields.Nested(ThresholdsSchema, required=True)
    span_thresholds = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, allow_none=True, metadata={
        "description": "Word-span probability needed to mark words, per attribute (default: the rest; comment_floor: "
                       "the comment score below which none are marked: the served policy file's [spans] floor when it "
                       "sets one; ATTRIBUTE.relative: a share of the comment's best word score that a word of that "
                       "attribute must also reach); null when the bundle has none."})


class ModelResponseSchema(Schema):
    model_version = fields.String(required=True)
    encoder_mode = fields.String(required=True, allow_none=True, metadata={
        "description": "How the bundle's encoder is served: 'encoder' (every comment) or 'cascade' "
                       "(the ENCODER_MODE setting); null for a bundle without an encoder."})
    card = fields.Nested(ModelCardSchema, required=True)
    manifest = fields.Dict(required=True, metadata={"description": "The bundle's manifest.json."})


class HealthSchema(Schema):
    """``/healthz``'s answer."""

    status = fields.String(required=True, metadata={"enum": ["ok"]})
    model_version = fields.String(required=True, metadata={"description": "The served bundle's version."})


class ReadinessChecksSchema(Schema):
    model = fields.String(required=True, metadata={"description": "ok, or how the probe scores differ."})
    database = fields.String(required=True, metadata={"description": "ok, or what failed and what to do."})


class ReadinessSchema(Schema):
    """``/readyz``'s answer, 200 or 503 alike."""

    status = fields.String(required=True, metadata={"enum": ["ready", "not_ready"]})
    model_version = fields.String(required=True)
    checks = fields.Nested(ReadinessChecksSchema, required=True)


class ErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "What went wrong, for programs to branch on; each response names its codes."})
    message = fields.String(required=True, metadata={"description": "Says what to fix and names the field."})


class ErrorResponseSchema(Schema):
    error = fields.Nested(ErrorSchema, required=True)


# Turning marshmallow's errors into one message


def _in_body_order(errors: dict, body: Any) -> list:
    """``errors``' keys, the unknown fields after the others in the order the body has them: marshmallow finds them
    by a set difference, whose order changes with each process's hash seed, so two workers named different ones."""
    places = {key: place for place, key in enumerate(body)} if isinstance(body, dict) else {}
    unknown = [key for key, value in errors.items() if value == [UNKNOWN_FIELD] and key in places]
    unknown_set = set(unknown)
    return [key for key in errors if key not in unknown_set] + sorted(unknown, key=places.__getitem__)


def _part(body: Any, key: Any) -> Any:
    """The part of the request body that ``key`` of an errors mapping is about (None when there is none)."""
    if key == "_schema":
        return body
    if isinstance(key, int):
        return body[key] if isinstance(body, list) and 0 <= key < len(body) else None
    return body.get(key) if isinstance(body, dict) else None


def _flatten(errors: Any, path: str = "", body: Any = None) -> list[str]:
    """``{"comments": {2: {"text": ["must be a string"]}}}`` -> ``["comments[2].text must be a string"]``; ``body``
    (the request's part the errors are about) orders unknown fields as it does."""
    if isinstance(errors, str):
        return [f"{path} {errors}" if path else errors]
    if isinstance(errors, list):
        return [message for item in errors for message in _flatten(item, path, body)]
    messages = []
    for key in _in_body_order(errors, body):
        if key == "_schema":
            child = path
        elif isinstance(key, int):
            child = f"{path}[{key}]"
        else:
            name = shown_name(str(key)) or '""'  # an empty key, as in {"": 1}; an unknown one may be any length
            child = f"{path}.{name}" if path else name
        messages.extend(_flatten(errors[key], child, _part(body, key)))
    return messages


def error_message(errors: Any, body: Any = None, n_left_out: int = 0) -> str:
    """One message for a ValidationError's ``messages`` about ``body``: field problems first, unknown fields last, in
    the body's order; ``n_left_out`` more problems (unknown names ``load`` did not validate) are counted, not named."""
    messages = sorted(_flatten(errors, body=body), key=lambda message: message.endswith(UNKNOWN_FIELD))
    shown = "; ".join(messages[:MAX_REPORTED_ERRORS])
    hidden = len(messages) + n_left_out - MAX_REPORTED_ERRORS
    return f"{shown} (and {hidden} more)" if hidden > 0 else shown


# Leaving out unknown names past the first few, before marshmallow sees them


def _left_out(value: dict, known: Any) -> tuple[dict, int]:
    """``value`` without its unknown names past the first ``MAX_REPORTED_ERRORS`` (in body order), and how many it left
    out. Only an object with more keys than that can have more unknown ones: the usual body is only counted."""
    if len(value) <= MAX_REPORTED_ERRORS:
        return value, 0
    kept, n_unknown = {}, 0
    for key, item in value.items():
        if key in known:
            kept[key] = item
        else:
            n_unknown += 1
            if n_unknown <= MAX_REPORTED_ERRORS:
                kept[key] = item
    n_left_out = max(n_unknown - MAX_REPORTED_ERRORS, 0)
    return (kept if n_left_out else value), n_left_out


def _over_its_length(field: fields.Field, value: list) -> bool:
    """Whether ``value`` is longer than ``field``'s ``ConfigLength`` allows: it is refused for that before its items are
    looked at (``ModerateRequestSchema._count_comments_first``), so they are not looked at here either."""
    return any(isinstance(check, ConfigLength) and check.max is not None and len(value) > check.max for check in field.validators)


def _trimmed_field(field: fields.Field, value: Any) -> tuple[Any, int]:
    """``value`` of ``field`` trimmed as ``_trimmed`` trims a body (a nested object, a list of them, labels)."""
    if isinstance(field, Labels) and isinstance(value, dict):
        return _left_out(value, ATTRIBUTES)
    if isinstance(field, fields.Nested) and isinstance(value, dict):
        return _trimmed(field.schema, value)
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested) and isinstance(value, list):
        if _over_its_length(field, value):
            return value, 0
        trimmed = [_trimmed(field.inner.schema, item) if isinstance(item, dict) else (item, 0) for item in value]
        n_left_out = sum(n for _item, n in trimmed)
        return ([item for item, _n in trimmed] if n_left_out else value), n_left_out
    return value, 0


@cache
def _fields_by_name(schema: Schema) -> dict[str, fields.Field]:
    """``schema``'s fields by the name a body gives them."""
    return {field.data_key or name: field for name, field in schema.load_fields.items()}


def _trimmed(schema: Schema, body: dict) -> tuple[dict, int]:
    """``body`` with at most ``MAX_REPORTED_ERRORS`` unknown names in each of its objects (fields, labels' attribute
    names), the first in the body's order, and how many it left out: marshmallow spends microseconds on each unknown
    field, and the 600,000 of an 8 MB body took 5 s of a worker to be refused. The message is the same: it names only
    the first few of them (``error_message``), and counts those left out among the "N more"."""
    names = _fields_by_name(schema)
    kept, n_left_out = _left_out(body, names)
    trimmed = {}
    for name, field in names.items():
        if name in kept:
            value, n = _trimmed_field(field, kept[name])
            if n:
                trimmed[name] = value
                n_left_out += n
    return ({**kept, **trimmed} if trimmed else kept), n_left_out


@cache
def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building a schema (it deep-copies its fields) costs more than a load."""
    return schema()


def load(schema: type[Schema], body: Any, example: str) -> dict:
    """Validate a decoded JSON body against ``schema``; raise a 400 ApiError naming the fields that are wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, INVALID_REQUEST, f"request body must be a JSON object like {example}")
    instance = _instance(schema)
    kept, n_left_out = _trimmed(instance, body)
    try:
        return instance.load(kept)
    except ValidationError as error:
        raise ApiError(400, INVALID_REQUEST, error_message(error.messages, kept, n_left_out)) from error
