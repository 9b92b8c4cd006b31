"""What the public Open311 feed may show: an allow-list, never a deny-list.

Anything anonymous GETs publish passes through here. A case's fields are copied only when
listed; free text (description, address, attributes, media) only for the channels the city
chose (default: cases citizens posted through Open311 themselves, who wrote them to be
public); a history entry's reason only when a back office posted it through Open311 as an
update meant for the citizen; a new action or field is internal until added here.

Values are made safe for every renderer: text has control characters replaced (U+FFFD) and characters XML
cannot carry, attribute codes must be plain names (they become XML element names), URLs must
be http(s). Nothing a staff member, an import or a citizen stores can make a public answer
fail or carry markup.

The city setting `open311_public` (settings table, JSON) changes the defaults, e.g.
`{"channels": ["open311", "citizen_app"], "text_channels": ["open311"], "fields":
["description", "address"]}`; `"channels": null` lists cases from every channel (the default);
`fields` (default all of TEXT_FIELDS) narrows which free text the text channels publish. Set it
with `cityops open311 public set` (intake/open311/cli.py), which validates it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from cityops.cases.models import Action

SETTING = "open311_public"
MAX_TEXT = 4000
MAX_URL = 2000
# Actions whose entries appear at all in notes and updates (their reason never, see below).
PUBLIC_ACTIONS = frozenset({
    "report", Action.REGISTER, Action.REJECT, Action.MERGE, Action.DISPATCH, Action.ACCEPT,
    Action.REPORT_BACK, Action.VERIFY,
})
# Back offices posting through Open311 write for the citizen: their words are published.
BACKOFFICE_PREFIX = "open311:"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}\Z")


# The free-text fields a city may publish for its text channels (`fields` in the setting).
TEXT_FIELDS = ("description", "address", "attributes", "media_url")
# Channels (cases.source) the settings CLI accepts besides those already in the database.
KNOWN_CHANNELS = frozenset({
    "open311", "citizen_app", "hotline_12345", "inspector", "sensor", "drone", "api", "import",
})


@dataclass(frozen=True)
class Policy:
    channels: frozenset[str] | None = None  # None: cases from every channel are listed
    text_channels: frozenset[str] = frozenset({"open311"})
    fields: frozenset[str] = frozenset(TEXT_FIELDS)

    def lists(self, source: str) -> bool:
        return self.channels is None or source in self.channels

    def shows_text(self, source: str) -> bool:
        return source in self.text_channels

    def shows(self, source: str, field: str) -> bool:
        """Whether free-text `field` of a case from `source` is published."""
        return source in self.text_channels and field in self.fields

    def as_json(self) -> dict[str, Any]:
        return {"channels": sorted(self.channels) if self.channels is not None else None,
                "text_channels": sorted(self.text_channels), "fields": sorted(self.fields)}


DEFAULT = Policy()


def policy(repo: Any) -> Policy:
    """The city's choice, or the default (which publishes no staff or hotline free text)."""
    raw = repo.get_setting(SETTING)
    if not raw:
        return DEFAULT
    try:
        value = orjson.loads(raw)
        channels = value.get("channels")
        return Policy(
            channels=frozenset(map(str, channels)) if channels is not None else None,
            text_channels=frozenset(map(str, value.get("text_channels", DEFAULT.text_channels))),
            fields=frozenset(map(str, value.get("fields", TEXT_FIELDS))) & frozenset(TEXT_FIELDS),
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return DEFAULT  # a broken setting must not open the feed up, nor break it


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Plain text: strings only, no control characters, at most `limit` characters."""
    if isinstance(value, bool) or value is None:
        return ""
    if not isinstance(value, str | int | float):
        return ""
    return _CONTROL.sub("\ufffd", str(value))[:limit]


def name(value: Any) -> str | None:
    """A code usable as an XML element name and a JSON key, or None."""
    return value if isinstance(value, str) and _NAME.match(value) else None


def url(value: Any) -> str:
    """An absolute http(s) URL without spaces or control characters, else ''."""
    if not isinstance(value, str) or len(value) > MAX_URL or _CONTROL.search(value) or any(c.isspace() for c in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in value for c in "<>\"'`\\"):
        return ""
    return value


def attributes(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """The service's own attributes only (codes from its definition), each a text or a list
    of texts; anything else is dropped."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        code = name(key)
        if code is None or code not in allowed:
            continue
        if isinstance(item, list):
            out[code] = [text(v, 1000) for v in item[:50] if isinstance(v, str)]
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            out[code] = text(item, 1000)
    return out


def open311_part(attrs: Any) -> Mapping[str, Any]:
    """The case's `attributes.open311` if it is a mapping (staff may have stored anything)."""
    o311 = attrs.get("open311") if isinstance(attrs, Mapping) else None
    return o311 if isinstance(o311, Mapping) else {}


def shows_entry(action: str, actor: str) -> bool:
    return action in PUBLIC_ACTIONS or actor.startswith(BACKOFFICE_PREFIX)


def reason(action: str, actor: str, value: str) -> str:
    """A step's reason is published only when an Open311 back office wrote it for the citizen
    (a failed verification's or a return's reason may name people: never)."""
    if action != "report" and actor.startswith(BACKOFFICE_PREFIX):
        return text(value)
    return ""
