"""The WebUI's languages: message catalogues and the choice of language per request.

English is the source language (the msgids); each other language has one or more
gettext catalogues ``web/locale/<lang>/LC_MESSAGES/*.po``, merged and compiled in
memory when first used. API error codes never change; only human text is translated.
"""

from __future__ import annotations

import functools
import gettext
import io
from contextvars import ContextVar
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

from vrm.paths import LOCALE_DIR

DEFAULT = "en"
# The languages offered, in the order the language menu shows them.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
LANG_COOKIE = "vrm_lang"

_ENGLISH = gettext.NullTranslations()
_current: ContextVar[gettext.NullTranslations | None] = ContextVar("vrm_translations", default=None)


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """Every translated message of ``lang``: its catalogues merged (English: none)."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    if lang == DEFAULT or not folder.is_dir():
        return {}
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.po")):
        for message in _read(path):
            if isinstance(message.id, str) and isinstance(message.string, str) and message.string:
                merged[message.id] = message.string
    return merged


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """``lang``'s catalogue compiled for gettext."""
    merged = Catalog(locale=lang)
    for msgid, text in catalogue(lang).items():
        merged.add(msgid, text)
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def choose(request: Request) -> str:
    """The language of a request: the user's choice (cookie), else the browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language", ""))


def negotiate(accept_language: str) -> str:
    """The best offered language for an ``Accept-Language`` header."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        found = _offered(tag)
        if found:
            return found
    return DEFAULT


def _offered(tag: str) -> str | None:
    """The offered language a browser's tag means (``zh``, ``zh-cn``, ``zh-hans`` → zh_CN)."""
    if tag.startswith("zh") and not tag.startswith(("zh-tw", "zh-hk", "zh-hant")):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def activate(lang: str) -> None:
    """Make ``lang`` the language of what this context renders next."""
    _current.set(translations(lang))


def gettext_(message: str) -> str:
    """``message`` in the active language."""
    return (_current.get() or _ENGLISH).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the active language."""
    return (_current.get() or _ENGLISH).ngettext(singular, plural, n)
