"""管理部件和事项: the GB/T 47678.5-2026 catalogue, city overrides and legacy mapping."""

from cityops.catalog.errors import CatalogueError, UnknownCode
from cityops.catalog.export import export_csv, export_json
from cityops.catalog.legacy import legacy_table, load_legacy, map_legacy
from cityops.catalog.models import AREA_CLASSES, DEPARTMENT_TYPES, TIME_UNITS, Entry, TimeLimit
from cityops.catalog.service import Catalogue, load_catalogue
from cityops.catalog.timelimits import format_time_limit, parse_time_limit

__all__ = [
    "AREA_CLASSES",
    "DEPARTMENT_TYPES",
    "TIME_UNITS",
    "Catalogue",
    "CatalogueError",
    "Entry",
    "TimeLimit",
    "UnknownCode",
    "export_csv",
    "export_json",
    "format_time_limit",
    "legacy_table",
    "load_catalogue",
    "load_legacy",
    "map_legacy",
    "parse_time_limit",
]
