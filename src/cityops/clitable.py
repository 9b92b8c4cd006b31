"""Terminal tables that fit a 100-column terminal: Chinese heading over a short English one.

Operators read Chinese first, so every heading keeps its Chinese label on the first line and a
short English one below. When the columns do not fit `WIDTH` display cells (a CJK character is
two cells), the table is split into several tables, each repeating the key columns, rather
than letting the terminal wrap or rich cut cells to '…'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table

WIDTH: Final = 100


@dataclass(frozen=True)
class Column:
    zh: str
    en: str
    numeric: bool = True


def console(width: int = WIDTH) -> Console:
    """The CLI's console: at most `width` columns, narrower when the terminal is."""
    plain = Console()
    return Console(width=min(plain.width, width)) if plain.is_terminal else Console(width=width)


def _width(table: Table) -> int:
    """The table's natural width in cells, as rich lays it out (headings, cells, padding, edges)."""
    return Console(width=100_000).measure(table).maximum


def _table(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1), collapse_padding=True)
    for c in columns:
        table.add_column(f"{c.zh}\n{c.en}", justify="right" if c.numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def fit(
    title: str | None, keys: Sequence[Column], values: Sequence[Column],
    rows: Sequence[Sequence[str]], width: int = WIDTH,
) -> RenderableType:
    """One table, or several side by side in reading order (each with the key columns), each
    at most `width` cells wide. `rows` hold the key cells first, then the value cells."""
    n = len(keys)

    def part(chunk: list[int], name: str | None) -> Table:
        cols = [*keys, *(values[j] for j in chunk)]
        return _table(name, cols, [[*r[:n], *(r[n + j] for j in chunk)] for r in rows])

    # Greedy: each value column joins the current table while it still fits (a few columns
    # and a few dozen rows: measuring the candidate table is cheap and exact).
    chunks: list[list[int]] = [[]]
    for j in range(len(values)):
        if chunks[-1] and _width(part([*chunks[-1], j], None)) > width:
            chunks.append([])
        chunks[-1].append(j)
    if len(chunks) == 1:
        return part(chunks[0], title)
    return Group(*(part(chunk, f"{title or ''} ({k}/{len(chunks)})".strip())
                   for k, chunk in enumerate(chunks, 1)))
