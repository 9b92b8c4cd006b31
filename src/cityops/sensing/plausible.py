"""Physically plausible readings: a table of bounds per kind of datastream (its observed
property), checked on whole columns before anything is stored or detected.

A `result: 1e308` cm of water opened a red waterlogging case; NaN and ±inf never reach here
(the parsers refuse them) but fail the check too. The table is the city's to widen or narrow
(setting `sensing.plausible`, JSON {kind: [low, high]}); a kind not in it gets `other`'s bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

SETTING = "sensing.plausible"
# kind: (low, high, unit). Road water depth up to 3 m (a flooded underpass), gauge noise a
# little below 0; rain per 5-minute interval well above the world's 1-minute record scaled;
# road speeds; anything else only has to be a sane magnitude.
DEFAULT_BOUNDS: dict[str, tuple[float, float, str]] = {
    "water_depth": (-10.0, 300.0, "cm"),
    "rain": (0.0, 200.0, "mm per interval"),
    "speed": (0.0, 250.0, "km/h"),
    "other": (-1e9, 1e9, ""),
}


def bounds_table(repo: Any) -> dict[str, tuple[float, float, str]]:
    """The defaults with the city's overrides."""
    table = dict(DEFAULT_BOUNDS)
    raw = repo.get_setting(SETTING) if repo is not None else None
    if raw:
        for kind, pair in orjson.loads(raw).items():
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int | float) for v in pair):
                table[str(kind)] = (float(pair[0]), float(pair[1]), table.get(str(kind), DEFAULT_BOUNDS["other"])[2])
    return table


def per_datastream(ids: npt.NDArray[np.int64], kinds: npt.NDArray[np.object_],
                   table: dict[str, tuple[float, float, str]]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """low[id], high[id] for every registered id (unregistered ids: an empty range)."""
    size = int(ids[-1]) + 1 if len(ids) else 1
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    other = table["other"]
    for kind in set(kinds.tolist()):  # one step per kind, not per datastream
        mask = kinds == kind
        lo, hi, _ = table.get(str(kind), other)
        low[ids[mask]], high[ids[mask]] = lo, hi
    return low, high


def implausible(datastream: npt.NDArray[np.int64], result: npt.NDArray[np.float64],
                low: npt.NDArray[np.float64], high: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which readings lie outside their datastream's bounds (NaN and ±inf always do).
    The datastreams must be registered (in range of `low`)."""
    lo, hi = low[datastream], high[datastream]
    with np.errstate(invalid="ignore"):
        return ~((result >= lo) & (result <= hi) & np.isfinite(result))  # type: ignore[no-any-return]
