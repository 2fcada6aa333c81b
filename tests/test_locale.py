"""The WebUI's Chinese catalogues: every text of the pages is translated, once."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted((ROOT / "web" / "locale" / "zh_CN" / "LC_MESSAGES").glob("*.po"))


def translations() -> dict[str, set[str]]:
    """Every msgid of the catalogues with the translations they give it."""
    found: dict[str, set[str]] = {}
    for path in CATALOGUES:
        with path.open("rb") as file:
            for message in read_po(file):
                if isinstance(message.id, str) and message.id:
                    found.setdefault(message.id, set()).add(str(message.string))
    return found


def texts_of_the_pages() -> set[str]:
    """The msgids the templates (``_("...")``) and scripts (``t("...")``) use."""
    ids: set[str] = set()
    for template in (ROOT / "web" / "templates").rglob("*.html"):
        ids |= set(re.findall(r'_\("((?:[^"\\]|\\.)+)"', template.read_text()))
    for script in (ROOT / "web" / "static").glob("*.js"):
        ids |= set(re.findall(r'\bt\("((?:[^"\\]|\\.)+)"\)', script.read_text()))
    return ids


def test_every_text_of_the_pages_has_a_chinese_translation() -> None:
    known = {msgid for msgid, texts in translations().items() if any(texts)}
    assert CATALOGUES
    assert sorted(texts_of_the_pages() - known) == []


def test_no_text_is_translated_two_ways() -> None:
    # An error code or a word means the same on every page: one translation each.
    clashes = {msgid: texts for msgid, texts in translations().items() if len(texts) > 1}
    assert clashes == {}
