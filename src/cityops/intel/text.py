"""Checks and normalisation of free text before it reaches a model."""

from __future__ import annotations

import re
import unicodedata

from cityops.errors import InvalidInput

MAX_TEXT = 20_000  # characters; a hotline note is a few hundred
MODEL_CHARS = 600  # what the model reads: subject and the first lines carry the matter

_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def clean(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), whitespace runs become one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def check(text: str) -> str:
    """The cleaned text, or InvalidInput for empty or oversized text."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"text has {len(text)} characters; at most {MAX_TEXT} are allowed",
            f"文本超过 {MAX_TEXT} 字",
        )
    cleaned = clean(text)
    if not cleaned:
        raise InvalidInput("text must not be empty", "文本不能为空")
    return cleaned


def readable_share(text: str) -> float:
    """Share of characters the models were trained on (Han and Latin letters)."""
    if not text:
        return 0.0
    return (len(_HAN.findall(text)) + len(_LATIN.findall(text))) / len(text)
