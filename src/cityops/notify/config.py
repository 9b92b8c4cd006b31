"""The city's notification settings and templates, kept in the settings table (keys notify.*).

A city sets them with `cityops notify set KEY VALUE` and `cityops notify templates --file`;
every process (server, write process, worker) reads the same values from the database.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, fields
from importlib import resources
from string import Template
from typing import Any

import yaml

from cityops.errors import InvalidInput
from cityops.store import txmemo

PREFIX = "notify."
TEMPLATES_KEY = "notify.templates"
UNSATISFIED_ACTIONS = ("reopen", "review")


@dataclass(frozen=True)
class NotifyConfig:
    public_url: str = "http://127.0.0.1:8000"  # where citizens' links point
    smtp_host: str = ""  # empty: e-mail is not configured, rows wait
    smtp_port: int = 25
    smtp_from: str = "cityops@localhost"
    sms_url: str = ""  # the city's SMS platform: POST JSON {to, text, id}
    max_attempts: int = 8
    backoff_s: float = 30.0  # first retry after this; doubles each time, at most an hour
    lease_s: float = 120.0  # a claimed row is another worker's again after this
    revisit_window_days: float = 7.0  # an unsatisfied answer within this reopens the case
    unsatisfied: str = "reopen"  # reopen (重办) | review (to a supervisor)
    max_reopens: int = 2  # a case reopened more often than this is escalated (督办)
    # Sources (by prefix) that are the city's own staff or devices: no citizen to visit,
    # unless the report left a contact.
    staff_sources: str = "inspector,collector,drone,sensor,detector,patrol,import"


_TYPES = {f.name: f.type for f in fields(NotifyConfig)}


def _coerce(key: str, value: str) -> Any:
    kind = _TYPES[key]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise InvalidInput(f"notify.{key} must be a number, not '{value}'", f"notify.{key} 必须是数字") from None
    if key == "unsatisfied" and value not in UNSATISFIED_ACTIONS:
        raise InvalidInput(f"notify.unsatisfied must be reopen or review, not '{value}'",
                           "notify.unsatisfied 只能是 reopen（重办）或 review（监督长复核）")
    return value.rstrip("/") if key == "public_url" else value


def load_config(conn: sqlite3.Connection) -> NotifyConfig:
    """The notification settings, read once per write batch (every closing step asks)."""
    return txmemo.memo(conn, "notify.config", lambda: _read_config(conn))


def _read_config(conn: sqlite3.Connection) -> NotifyConfig:
    rows = conn.execute("SELECT key, value FROM settings WHERE key LIKE 'notify.%'").fetchall()
    values = {k[len(PREFIX):]: v for k, v in rows if k[len(PREFIX):] in _TYPES}
    return NotifyConfig(**{k: _coerce(k, v) for k, v in values.items()})


def check_setting(key: str, value: str) -> str:
    """The full settings key for `key` (with or without the notify. prefix); raises if unknown."""
    name = key.removeprefix(PREFIX)
    if name not in _TYPES:
        raise InvalidInput(f"unknown setting '{key}'; known: {', '.join(_TYPES)}", f"未知的设置项 {key}")
    _coerce(name, value)
    return PREFIX + name


# --- templates -------------------------------------------------------------------------
KINDS = ("step", "closed")
PARTS = ("subject", "body", "sms")
_cache: dict[str, dict[str, dict[str, Template]]] = {}


@functools.cache
def default_templates_text() -> str:
    return (resources.files("cityops.notify") / "templates.yaml").read_text("utf-8")


def parse_templates(text: str) -> dict[str, dict[str, Template]]:
    """Parse and check a templates YAML; raises InvalidInput naming what is missing."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"templates are not valid YAML: {exc}", "模板不是有效的 YAML") from None
    if not isinstance(data, dict):
        raise InvalidInput("templates must be a mapping of kinds", "模板格式错误")
    out: dict[str, dict[str, Template]] = {}
    for kind in KINDS:
        part = data.get(kind)
        if not isinstance(part, dict) or any(not isinstance(part.get(p), str) for p in PARTS):
            raise InvalidInput(f"templates need '{kind}' with {', '.join(PARTS)}",
                               f"模板缺少 {kind} 的 {'/'.join(PARTS)}")
        out[kind] = {p: Template(part[p]) for p in PARTS}
    return out


def load_templates(conn: sqlite3.Connection) -> dict[str, dict[str, Template]]:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (TEMPLATES_KEY,)).fetchone()
    text = row[0] if row else default_templates_text()
    if text not in _cache:  # parsed once per text, not once per message
        _cache.clear()
        _cache[text] = parse_templates(text)
    return _cache[text]
