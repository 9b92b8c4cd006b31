"""Export the catalogue as CSV, JSON or a terminal table (one row per component or matter)."""

from __future__ import annotations

import csv
import json
from typing import TextIO

from cityops.catalog.models import AREA_CLASSES, DEPARTMENT_TYPES, Entry
from cityops.catalog.service import Catalogue
from cityops.catalog.timelimits import format_time_limit

CSV_COLUMNS: tuple[str, ...] = (
    "kind",
    "code",
    "major_code",
    "major_name",
    "name",
    "name_en",
    "department",
    "department_name",
    "time_limit_A",
    "time_limit_B",
    "time_limit_C",
    "verify_on_site",
)


def entry_row(entry: Entry) -> dict[str, str]:
    """Flat text row; components have no time limits, so their limit cells are empty."""
    limits = {
        f"time_limit_{area}": format_time_limit(entry.time_limit(area)) if entry.time_limits else ""
        for area in AREA_CLASSES
    }
    return {
        **_identity(entry),
        "department_name": DEPARTMENT_TYPES.get(entry.department, ("", ""))[0],
        **limits,
        "verify_on_site": "true" if entry.verify_on_site else "false",
    }


def _identity(entry: Entry) -> dict[str, str]:
    return {
        "kind": entry.kind,
        "code": entry.code,
        "major_code": entry.major_code,
        "major_name": entry.major_name,
        "name": entry.name,
        "name_en": entry.name_en,
        "department": entry.department,
    }


def export_csv(cat: Catalogue, out: TextIO) -> int:
    """Write every component then every matter; returns the number of data rows."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = [entry_row(e) for e in (*cat.components(), *cat.matters())]
    writer.writerows(rows)
    return len(rows)


def entry_json(entry: Entry) -> dict[str, object]:
    zh, en = DEPARTMENT_TYPES.get(entry.department, ("", ""))
    return {
        **_identity(entry),
        "department_name": zh,
        "department_name_en": en,
        "time_limits": {a: format_time_limit(t) for a, t in entry.time_limits.items()},
        "verify_on_site": entry.verify_on_site,
        "keywords": list(entry.keywords),
        "component_matter": entry.is_component_matter,
    }


def export_json(cat: Catalogue, out: TextIO) -> int:
    items = [entry_json(e) for e in (*cat.components(), *cat.matters())]
    json.dump({"sources": list(cat.sources), "entries": items}, out, ensure_ascii=False, indent=1)
    out.write("\n")
    return len(items)
