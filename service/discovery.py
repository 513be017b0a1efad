"""Google API discovery document for the Perspective-compatible API, so Google's own clients work unchanged.

``googleapiclient.discovery.build("commentanalyzer", "v1alpha1", developerKey=KEY,
discoveryServiceUrl=BASE + "/$discovery/rest?version={apiVersion}", static_discovery=False)`` reads it and
sends its requests to ``rootUrl``, which is this request's own base URL (behind a trusted proxy, the one the client used).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from service.google_batch import BATCH_PATH
from service.google_errors import register_google_error_handlers
from service.perspective import API_VERSION, ATTRIBUTE_NAMES, SCORE_TYPE, TEXT_TYPES

API_NAME = "commentanalyzer"
ROOT_URL_HEADERS = ("Host", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix")
"""The headers ``rootUrl`` is made from: Host, and behind a trusted proxy (``TRUSTED_PROXY_HOPS``) the ones it sets."""
bp = Blueprint("discovery", __name__)
register_google_error_handlers(bp)


def _ref(name: str) -> dict:
    return {"$ref": name}


def _string(description: str, **extra: object) -> dict:
    return {"type": "string", "description": description, **extra}


def _text_entry(description: str) -> dict:
    return {**_ref("TextEntry"), "description": description}


SCHEMAS: dict[str, dict] = {
    "TextEntry": {
        "description": "A piece of text and its format.",
        "properties": {
            "text": _string("UTF-8 text; at most MODERATION_PERSPECTIVE_MAX_TEXT_CHARS characters."),
            "type": _string("PLAIN_TEXT (default) or HTML (tags are removed before scoring).", enum=list(TEXT_TYPES)),
        },
    },
    "ArticleAndParentComment": {
        "description": "The article and the comment this one replies to (accepted; not used for scoring yet).",
        "properties": {"article": _text_entry("The article."), "parentComment": _text_entry("The parent comment.")},
    },
    "Context": {
        "description": "Text around the comment (accepted; not used for scoring yet).",
        "properties": {
            "entries": {"type": "array", "items": _ref("TextEntry"), "description": "Context texts."},
            "articleAndParentComment": _ref("ArticleAndParentComment"),
        },
    },
    "AttributeParameters": {
        "description": "Options for one requested attribute.",
        "properties": {
            "scoreType": _string("Only PROBABILITY is offered.", enum=["SCORE_TYPE_UNSPECIFIED", SCORE_TYPE]),
            "scoreThreshold": {"type": "number", "format": "float", "description": "Leave out the scores below this one: the "
                               "attribute when its summary score is, else its spans that are."},
        },
    },
    "Score": {
        "description": "A probability in [0, 1].",
        "properties": {"value": {"type": "number", "format": "float"}, "type": _string("PROBABILITY.")},
    },
    "SpanScore": {
        "description": "The score of the characters text[begin:end].",
        "properties": {
            "begin": {"type": "integer", "format": "int32"},
            "end": {"type": "integer", "format": "int32"},
            "score": _ref("Score"),
        },
    },
    "AttributeScores": {
        "description": "One attribute's scores.",
        "properties": {
            "summaryScore": _ref("Score"),
            "spanScores": {"type": "array", "items": _ref("SpanScore")},
        },
    },
    "AnalyzeCommentRequest": {
        "description": "Perspective's AnalyzeComment request.",
        "properties": {
            "comment": _ref("TextEntry"),
            "context": _ref("Context"),
            "requestedAttributes": {
                "type": "object",
                "additionalProperties": _ref("AttributeParameters"),
                "description": f"Attribute name -> options. Names: {', '.join(ATTRIBUTE_NAMES)} (the last when offered).",
            },
            "spanAnnotations": {"type": "boolean", "description": "Also return the spans behind each score."},
            "languages": {"type": "array", "items": {"type": "string"}, "description": "Only en is supported; detected when empty."},
            "doNotStore": {"type": "boolean", "description": "Store nothing about this request."},
            "dropUnsupportedAttributes": {"type": "boolean", "description": "Leave out the attributes that cannot be scored (another "
                                          "language, or an attribute this service does not offer) instead of failing."},
            "clientToken": _string("Echoed in the response."),
            "sessionId": _string("Accepted; unused."),
            "communityId": _string("Accepted; unused."),
        },
    },
    "AnalyzeCommentResponse": {
        "description": "Perspective's AnalyzeComment response.",
        "properties": {
            "attributeScores": {"type": "object", "additionalProperties": _ref("AttributeScores")},
            "languages": {"type": "array", "items": {"type": "string"}},
            "detectedLanguages": {"type": "array", "items": {"type": "string"}},
            "clientToken": _string("The request's clientToken."),
        },
    },
    "SuggestCommentScoreRequest": {
        "description": "Scores a client believes right for a comment, stored as feedback for retraining.",
        "properties": {
            "comment": _ref("TextEntry"),
            "context": _ref("Context"),
            "attributeScores": {"type": "object", "additionalProperties": _ref("AttributeScores")},
            "languages": {"type": "array", "items": {"type": "string"}},
            "clientToken": _string("Echoed in the response."),
            "sessionId": _string("Accepted; unused."),
            "communityId": _string("Accepted; unused."),
        },
    },
    "SuggestCommentScoreResponse": {
        "description": "Acknowledges stored feedback.",
        "properties": {"clientToken": _string("The request's clientToken.")},
    },
}


def _method(name: str, description: str, request_schema: str, response_schema: str) -> dict:
    path = f"{API_VERSION}/comments:{name}"
    return {
        "id": f"{API_NAME}.comments.{name}",
        "path": path,
        "flatPath": path,
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": _ref(request_schema),
        "response": _ref(response_schema),
    }


def discovery_document(root_url: str) -> dict:
    """The discovery document (Google's ``discovery#restDescription``) with every URL under ``root_url``."""
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{API_NAME}:{API_VERSION}",
        "name": API_NAME,
        "version": API_VERSION,
        "title": "Perspective-compatible Comment Analyzer API (self-hosted)",
        "description": "Scores comments with this service's model in the shape of Google's Perspective API.",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "batchPath": BATCH_PATH,
        "baseUrl": root_url,
        "parameters": {
            "key": {"type": "string", "location": "query", "description": "API key of this service."},
            "alt": {"type": "string", "location": "query", "default": "json", "enum": ["json"], "description": "Response format."},
            "fields": {"type": "string", "location": "query", "description": "Accepted; the full response is returned."},
            "prettyPrint": {"type": "boolean", "location": "query", "default": "true", "description": "Accepted."},
            # The rest of Google's standard parameters, which every Google document declares: a client (googleapiclient)
            # refuses a keyword its document does not name, before sending anything. Accepted and ignored here.
            "$.xgafv": {"type": "string", "location": "query", "enum": ["1", "2"], "description": "Accepted; errors keep their shape."},
            "access_token": {"type": "string", "location": "query", "description": "Ignored: this service takes API keys."},
            "oauth_token": {"type": "string", "location": "query", "description": "Ignored: this service takes API keys."},
            "callback": {"type": "string", "location": "query", "description": "Ignored: answers are JSON, never JSONP."},
            "quotaUser": {"type": "string", "location": "query", "description": "Ignored: limits are per API key."},
            "uploadType": {"type": "string", "location": "query", "description": "Ignored: there are no uploads."},
            "upload_protocol": {"type": "string", "location": "query", "description": "Ignored: there are no uploads."},
        },
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method("analyze", "Scores a comment.", "AnalyzeCommentRequest", "AnalyzeCommentResponse"),
                    "suggestscore": _method(
                        "suggestscore", "Stores suggested scores as feedback.", "SuggestCommentScoreRequest", "SuggestCommentScoreResponse"
                    ),
                }
            }
        },
        "schemas": {name: {"id": name, "type": "object", **schema} for name, schema in SCHEMAS.items()},
    }


def _document_for(version: str | None) -> ResponseReturnValue:
    """The document for ``version``, or Google's 404 for another version.

    Its rootUrl is the URL this request came to, so the answer varies with the headers that make it (``Vary``): a shared
    cache (a CDN, Varnish) would otherwise hand one host's rootUrl to a client of another, whose calls then go there.
    """
    if version != API_VERSION:
        raise NotFound(f"no discovery document for version {version!r}; this service offers {API_VERSION}")
    response = jsonify(discovery_document(request.url_root))
    response.vary.update(ROOT_URL_HEADERS if current_app.config["TRUSTED_PROXY_HOPS"] else ROOT_URL_HEADERS[:1])
    return response


@bp.get("/$discovery/rest")
def discovery_rest() -> ResponseReturnValue:
    """``/$discovery/rest?version=v1alpha1``, the URL form of Google's newer discovery service."""
    return _document_for(request.args.get("version"))


@bp.get(f"/discovery/v1/apis/{API_NAME}/<version>/rest")
def discovery_v1(version: str) -> ResponseReturnValue:
    """``/discovery/v1/apis/commentanalyzer/v1alpha1/rest``, googleapiclient's older default URL form."""
    return _document_for(version)
