"""Language tags as the Perspective surface reads them (``service.language``)."""

from __future__ import annotations

import pytest

from service.language import is_language_tag, is_supported


@pytest.mark.parametrize("tag", ["en", "EN", "en-US", "zh_Hant", "de-CH-1901"])
def test_a_language_tag_is_recognised(tag):
    assert is_language_tag(tag)


@pytest.mark.parametrize("tag", ["", "e", "english language", "en-", "en\n", "de\n", " en", "en-US\n"])
def test_anything_else_is_not_a_language_tag(tag):
    # "en\n" was taken as a tag (re.match with "$" allows a final newline), then refused as an unsupported language.
    assert not is_language_tag(tag)


def test_english_in_any_region_is_supported():
    assert is_supported("en-GB") and is_supported("EN_us")
    assert not is_supported("de") and not is_supported("und")
