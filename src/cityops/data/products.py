"""The data products cityops offers for authorised operation (授权运营), and their domains.

A product names the columns that may ever leave (never a description, a reporter, a contact
or an exact position: those are not even loaded), the columns it may be grouped by, and
whether it is built on citizens' data (then rows leave only de-identified, counts only with
small cells suppressed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

# Wuhan's four authorised-operation domains, and the city's own governance.
DOMAINS = {"health": ("医疗健康", "Health"), "finance": ("普惠金融", "Inclusive finance"),
           "transport": ("交通物流", "Transport and logistics"), "education": ("教育", "Education"),
           "governance": ("城市治理", "Urban governance")}


@dataclass(frozen=True)
class Product:
    code: str
    name_zh: str
    name_en: str
    citizen: bool
    fields: tuple[str, ...]  # what may leave, at most
    group_fields: tuple[str, ...]  # what aggregates may be grouped by
    load: Callable[[Any, Any], pl.DataFrame]  # (repo, platform) -> the columns above
    district: str = "district"
    period: str = "reported_at"


def _cases(repo: Any, platform: Any) -> pl.DataFrame:
    frame: pl.DataFrame = repo.case_frame()  # no description, reporter, contact or position in it
    return frame.select("case_id", "matter_code", "status", "district", "grid", "department", "reported_at",
                        "dispatched_at", "disposed_at", "closed_at", "overdue_disposed")


def _readings(repo: Any, platform: Any) -> pl.DataFrame:
    rows = repo.conn.execute("SELECT kind, district, point, name FROM sta_datastream").fetchall()
    return pl.DataFrame([tuple(r) for r in rows], schema=["kind", "district", "point", "name"], orient="row")


PRODUCTS = {p.code: p for p in (
    Product("cases", "城市运行事件数据产品", "City-operation cases", citizen=True,
            fields=("case_id", "matter_code", "status", "district", "grid", "department", "reported_at",
                    "dispatched_at", "disposed_at", "closed_at", "overdue_disposed"),
            group_fields=("matter_code", "status", "district", "grid", "department", "day"), load=_cases),
    Product("sensors", "城市感知设施数据产品", "City sensors", citizen=False,
            fields=("kind", "district", "point", "name"), group_fields=("kind", "district"), load=_readings,
            period=""),
)}
