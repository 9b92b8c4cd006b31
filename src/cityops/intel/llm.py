"""An optional LLM back end: any OpenAI-compatible `/v1/chat/completions` endpoint the city runs.

Off unless `CITYOPS_LLM_URL` is set (the base URL, e.g. `http://10.0.0.5:8000/v1`); the model
name comes from `CITYOPS_LLM_MODEL`, the bearer key (if the endpoint wants one) from
`CITYOPS_LLM_KEY`, the time-out in seconds from `CITYOPS_LLM_TIMEOUT` (default 5). It is never
required: it only chooses among the local model's top-k, and any failure (time-out, refused
connection, an HTTP error, an answer naming no candidate) falls back to the local answer. The
text goes to the endpoint the city configured and nowhere else.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)
_CODE = re.compile(r"\b(\d{5})\b")
SYSTEM = ("你是城市运行管理服务平台的受理员。从候选事项中为市民的诉求选出最合适的一项，只回答事项代码。"
          " / You accept citizens' reports for a city operations platform. Pick the one candidate matter "
          "that fits the report best and answer with its code only.")


@dataclass(frozen=True)
class Config:
    url: str  # base URL ending before /chat/completions
    model: str
    key: str = ""
    timeout_s: float = 5.0


def config(env: Mapping[str, str] | None = None) -> Config | None:
    """The configured endpoint, or None (the default: no LLM)."""
    env = os.environ if env is None else env
    url = env.get("CITYOPS_LLM_URL", "").strip()
    if not url:
        return None
    try:
        timeout = float(env.get("CITYOPS_LLM_TIMEOUT", "5"))
    except ValueError:
        timeout = 5.0
    return Config(url.rstrip("/"), env.get("CITYOPS_LLM_MODEL", "default").strip() or "default",
                  env.get("CITYOPS_LLM_KEY", ""), max(0.1, min(timeout, 60.0)))


def prompt(text: str, candidates: Sequence[tuple[str, str]]) -> str:
    listed = "\n".join(f"{code} {name}" for code, name in candidates)
    return f"诉求 / report:\n{text}\n\n候选事项 / candidates:\n{listed}\n\n事项代码 / code:"


def choose(cfg: Config, text: str, candidates: Sequence[tuple[str, str]]) -> str | None:
    """The candidate code the endpoint picks, or None on any failure (the caller keeps its own)."""
    allowed = {code for code, _ in candidates}
    body = {"model": cfg.model, "temperature": 0, "max_tokens": 16,
            "messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": prompt(text, candidates)}]}
    headers = {"Authorization": f"Bearer {cfg.key}"} if cfg.key else {}
    try:
        r = httpx.post(f"{cfg.url}/chat/completions", json=body, headers=headers, timeout=cfg.timeout_s)
        r.raise_for_status()
        content = str(r.json()["choices"][0]["message"]["content"])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        log.warning("LLM back end %s failed (%s); using the local model", cfg.url, type(exc).__name__)
        return None
    picked = next((c for c in _CODE.findall(content) if c in allowed), None)
    if picked is None:
        log.warning("LLM back end %s answered no candidate; using the local model", cfg.url)
    return picked
