"""A harness for every public renderer (Open311 JSON and XML now; CAP and the dashboard can
reuse it): hypothesis strategies for the nastiest values staff, imports and citizens can
store, and assertions that a rendered public body parses, carries no control characters or
markup of the attacker's, and only http(s) URLs.

    from public_render import nasty_text, nasty_json, assert_json_safe, assert_xml_safe
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import defusedxml.ElementTree as SafeET
import orjson
from hypothesis import strategies as st

# Markup and protocol tricks worth trying on purpose, beside arbitrary Unicode.
TRICKS = [
    "<script>alert(1)</script>", "]]><evil/>", "&amp;&lt;", "a><b", "\x00", "\x1b[31m", "\ufffe", "\ud800",
    "javascript:alert(1)", "data:text/html,<b>", "http://a b", "https://example.org/p.jpg", "\u202e",
    "x" * 5000, "", " ", "open311", "ｓｃｒｉｐｔ", "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
]
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def nasty_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(TRICKS), st.text(max_size=60),
                     st.text(st.characters(codec=None, categories=None), max_size=30))


def nasty_json(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON-like value (keys nasty too): what `attributes` or `data` may hold."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), nasty_text())
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text(), inner, max_size=4)),
        max_leaves=max_leaves,
    )


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_clean_text(texts: Iterable[str]) -> None:
    for t in texts:
        assert not _CONTROL.search(t), f"control character in public text {t!r}"


def assert_urls(value: Any, url_fields: tuple[str, ...] = ("media_url",)) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in url_fields:
                assert v == "" or (isinstance(v, str) and re.match(r"https?://[^\s<>\"'`]+\Z", v)), f"{k}={v!r}"
            assert_urls(v, url_fields)
    elif isinstance(value, list):
        for v in value:
            assert_urls(v, url_fields)


def assert_json_safe(body: bytes) -> Any:
    """Parses with orjson; HTML-safe (no raw < or >); no control characters; URLs are
    http(s). Returns the value."""
    assert b"<" not in body and b">" not in body, "markup characters are \\u-escaped"
    value = orjson.loads(body)
    assert_clean_text(strings(value))
    assert_urls(value)
    return value


def assert_xml_safe(body: bytes, allowed_tags: set[str] | None = None) -> Any:
    """Parses with defusedxml (no DTDs, no entities); every element name is a plain name
    (and one of `allowed_tags` when given): text never became markup."""
    root = SafeET.fromstring(body)
    for elem in root.iter():
        assert re.match(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z", elem.tag), elem.tag
        if allowed_tags is not None:
            assert elem.tag in allowed_tags, f"unexpected element <{elem.tag}>"
        assert_clean_text([elem.text or ""])
        if elem.tag == "media_url":
            assert_urls({"media_url": elem.text or ""})
    return root
