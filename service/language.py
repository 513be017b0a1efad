"""Which language a comment is written in, for the surfaces that must refuse what the model cannot read."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Flask, current_app

LANGUAGE_KEY = "language_identifier"
"""``app.extensions[LANGUAGE_KEY]`` holds the loaded language identifier."""

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en",)
"""ISO 639-1 codes of the languages every attribute is trained on."""

DEFAULT_LANGUAGE = "en"
"""Assumed when the identifier is unsure: short comments ("ok", "lol", "u r dum") are identified at random."""

MIN_DETECTION_PROBABILITY = 0.9
"""Below this the identifier's best guess is not trusted and ``DEFAULT_LANGUAGE`` is assumed."""

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*")


@cache
def load_language_identifier() -> Any:
    """Load py3langid's bundled model (about 2 s, so once per process and before workers fork)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def init_language_identifier(app: Flask) -> None:
    """Put the identifier into ``app.extensions`` (called when a blueprint that needs it is registered)."""
    app.extensions.setdefault(LANGUAGE_KEY, load_language_identifier())


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of ``text``'s language, or ``DEFAULT_LANGUAGE`` when unsure."""
    identifier = current_app.extensions[LANGUAGE_KEY]
    language, probability = identifier.classify(text)
    return language if probability >= MIN_DETECTION_PROBABILITY else DEFAULT_LANGUAGE


def is_language_tag(value: str) -> bool:
    """True for an ISO 639 or BCP-47 tag such as ``en``, ``en-US`` or ``zh_Hant``."""
    return _LANGUAGE_TAG.fullmatch(value) is not None  # not match with "$", which also takes "en\n"


def primary_language(tag: str) -> str:
    """The primary subtag of a language tag, lower-cased: ``en-US`` -> ``en``."""
    return re.split(r"[-_]", tag, maxsplit=1)[0].lower()


def is_supported(tag: str) -> bool:
    """True when every attribute is trained on the language ``tag`` names."""
    return primary_language(tag) in SUPPORTED_LANGUAGES
