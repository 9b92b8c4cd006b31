"""Routing from history: does the catalogue send each matter where the city really sent it?

For imported cases we know the matter (from the category mapping) and the department type the
legacy agency stands for (from the agency mapping). The catalogue's default routing sends a
matter to its entry's department type. This module measures their agreement, lists the biggest
disagreements and learns, per matter, the most frequent real department type, offered as a city
catalogue override (`matters: {"06013": {department: roads}}`). Pure: frames in, frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cityops.catalog.models import DEPARTMENT_TYPES, Entry


@dataclass(frozen=True)
class RoutingReport:
    cases: int  # imported cases whose real department type is known
    agreeing: int
    per_matter: pl.DataFrame  # matter_code, name, default_type, cases, agreeing, agreement,
    #                           learned_type, learned_cases, learned_share
    confusion: pl.DataFrame  # matter_code, name, default_type, actual_type, cases (disagreements)
    suggestions: pl.DataFrame  # per_matter rows where the learned type should replace the default
    unknown: int  # imported cases without a known real department type

    @property
    def agreement(self) -> float | None:
        return self.agreeing / self.cases if self.cases else None


def defaults_frame(matters: tuple[Entry, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        {"matter_code": [e.code for e in matters], "name": [e.name for e in matters],
         "name_en": [e.name_en for e in matters], "default_type": [e.department for e in matters]},
        schema={"matter_code": pl.Utf8, "name": pl.Utf8, "name_en": pl.Utf8, "default_type": pl.Utf8},
    )


def routing_report(imported: pl.DataFrame, defaults: pl.DataFrame, *, min_support: int = 5,
                   min_share: float = 0.5, top: int = 10) -> RoutingReport:
    """`imported`: matter_code, actual_type (null when the agency was not mapped)."""
    known = imported.filter(pl.col("actual_type").is_not_null())
    rows = known.select("matter_code", "actual_type").join(defaults, on="matter_code", how="left").with_columns(
        (pl.col("actual_type") == pl.col("default_type")).fill_null(False).alias("agrees")
    )
    pairs = rows.group_by("matter_code", "actual_type").agg(pl.len().alias("cases"))
    learned = (
        pairs.sort(["matter_code", "cases", "actual_type"], descending=[False, True, False])
        .group_by("matter_code", maintain_order=True)
        .first()
        .rename({"actual_type": "learned_type", "cases": "learned_cases"})
    )
    per_matter = (
        rows.group_by("matter_code", "name", "name_en", "default_type")
        .agg(pl.len().alias("cases"), pl.col("agrees").sum().cast(pl.Int64).alias("agreeing"))
        .with_columns((pl.col("agreeing") / pl.col("cases")).alias("agreement"))
        .join(learned, on="matter_code", how="left")
        .with_columns((pl.col("learned_cases") / pl.col("cases")).alias("learned_share"))
        .sort(["cases", "matter_code"], descending=[True, False])
    )
    confusion = (
        rows.filter(~pl.col("agrees"))
        .group_by("matter_code", "name", "default_type", "actual_type")
        .agg(pl.len().alias("cases"))
        .sort(["cases", "matter_code", "actual_type"], descending=[True, False, False])
        .head(top)
    )
    suggestions = per_matter.filter(
        (pl.col("learned_type") != pl.col("default_type"))
        & (pl.col("learned_cases") >= min_support)
        & (pl.col("learned_share") >= min_share)
    ).sort("matter_code")
    return RoutingReport(
        cases=known.height,
        agreeing=int(rows["agrees"].sum()),
        per_matter=per_matter,
        confusion=confusion,
        suggestions=suggestions,
        unknown=imported.height - known.height,
    )


def override_yaml(report: RoutingReport, source: str) -> str:
    """The suggestions as a city catalogue override (the format `load_catalogue` reads)."""
    matters = {
        str(r["matter_code"]): {"department": str(r["learned_type"])}
        for r in report.suggestions.iter_rows(named=True)
    }
    lines = [
        "# Suggested city catalogue override, learned from imported history "
        f"({source}): each matter goes to the department type that really handled most of its cases.",
        "# 由导入的历史案卷学习得到的目录覆盖建议：每个事项改派给实际处理其多数案卷的部门类型。",
        "# Review before use: cityops catalogue ... / load_catalogue(<this file>).",
    ]
    for r in report.suggestions.iter_rows(named=True):
        zh = DEPARTMENT_TYPES.get(str(r["learned_type"]), ("", ""))[0]
        lines.append(
            f"#   {r['matter_code']} {r['name']}: {r['default_type']} -> {r['learned_type']} ({zh}), "
            f"{r['learned_cases']} of {r['cases']} cases ({r['learned_share']:.0%})"
        )
    # Codes are written quoted by hand: a YAML 1.1 reader may take 06028 for a number.
    body = ["matters: {}" if not matters else "matters:"]
    body += [f'  "{code}": {{department: {v["department"]}}}' for code, v in sorted(matters.items())]
    return "\n".join(lines + body) + "\n"
