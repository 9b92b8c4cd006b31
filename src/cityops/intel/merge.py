"""Duplicate linking across sources: reports, sensor events and inspectors' findings.

Two items *link* when all hold (a symmetric predicate):
  distance ≤ radius_m (local equirectangular metres), |Δt| ≤ window_s,
  compatible matter (same group, see COMPATIBLE), and text similarity ≥ min_text
  (MinHash estimate of the Jaccard similarity of character bigrams), unless one side has no
  text (a sensor event) or the two lie within near_m, where space, time and matter decide.

Candidates come from spatial hashing: each item's cell is (x // radius, y // radius,
t // window); an item can only link to items in the 3 × 3 × 3 neighbouring cells. Cells are
found by sorting the keys once and `searchsorted`, and pairs are expanded with NumPy, so the
cost is O(n log n + pairs), never O(n²), and there is no Python loop per item.

Merging is transitive-safe: an item is merged only into a *root*, the earliest item it links
to directly that links to nothing earlier itself (order: time, then input index). So every
merge is backed by a direct link to the case's first report, a chain A–B–C never drags C into
A's case unless C links to A, and no merged item lies farther than radius_m from its root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741

EARTH_M_PER_DEG = 111_320.0
N_HASH = 8
TEXT_CHARS = 48
_PRIME = np.uint64(0x9E3779B97F4A7C15)

# Matter codes that describe the same problem from different sources (a gauge says "water on
# the road", a citizen says "storm grate blocked").
COMPATIBLE: tuple[frozenset[str], ...] = (
    frozenset({"01004", "01003", "10003"}),  # waterlogging: grate, storm manhole, sensor event
    frozenset({"06010", "06011", "06042"}),  # rubbish: exposed, piled, bins overflowing
    frozenset({"06013", "08009", "08003"}),  # damaged road surface
    frozenset({"09009", "09012"}),           # parked cars, blocked fire lane
    frozenset({"08001", "06028"}),           # construction noise, noise
)


@dataclass(frozen=True)
class Params:
    radius_m: float = 150.0
    window_s: float = 6 * 3600.0
    min_text: float = 0.25
    near_m: float = 75.0


@dataclass(frozen=True)
class Plan:
    """pairs: every link (i < j); target[k] = root index item k merges into, or k itself."""

    pairs: I
    score: F
    target: I


def matter_groups(codes: Sequence[str]) -> I:
    """An integer per item; equal integers are compatible matters."""
    alias = {c: min(group) for group in COMPATIBLE for c in group}
    uniq, inv = np.unique(np.array([alias.get(c, c) for c in codes], dtype="<U8"), return_inverse=True)
    return inv.astype(np.int64)


def signatures(texts: Sequence[str], chunk: int = 50_000) -> npt.NDArray[np.uint64]:
    """MinHash (N_HASH values) of each text's character bigrams over its first TEXT_CHARS
    characters; all zeros for an empty text. Vectorised over the code points, in chunks so
    the temporaries stay small."""
    out = np.zeros((len(texts), N_HASH), np.uint64)
    for a in range(0, len(texts), chunk):
        out[a:a + chunk] = _minhash(texts[a:a + chunk])
    return out


def _minhash(texts: Sequence[str]) -> npt.NDArray[np.uint64]:
    n = len(texts)
    cps = np.array(texts, dtype=f"<U{TEXT_CHARS}").view(np.uint32).reshape(n, TEXT_CHARS).astype(np.uint64)
    grams = cps[:, :-1] * np.uint64(1_114_112) + cps[:, 1:]
    valid = cps[:, 1:] != 0
    out = np.zeros((n, N_HASH), np.uint64)
    with np.errstate(over="ignore"):
        for k in range(N_HASH):  # N_HASH passes over the matrix, not a loop over items
            h = (grams + np.uint64(k + 1)) * _PRIME
            h ^= h >> np.uint64(29)
            h[~valid] = np.iinfo(np.uint64).max
            out[:, k] = h.min(axis=1)
    out[~valid.any(axis=1)] = 0
    return out


def project(lon: F, lat: F) -> tuple[F, F]:
    """Local metres (equirectangular about the mean latitude): fine within a city."""
    lat0 = np.deg2rad(np.nanmean(lat)) if len(lat) else 0.0
    return lon * EARTH_M_PER_DEG * np.cos(lat0), lat * EARTH_M_PER_DEG


def _cell_order(x: F, y: F, t: F, params: Params) -> tuple[I, I, I, I, I]:
    """Items sorted by space-time cell: (order, cell keys, cell starts, cell sizes, key step per
    neighbour offset). A cell's key is ((cx * sy) + cy) * st + ct, so the cells are laid out x,
    then y, then time, and a neighbour's key is the cell's key plus a constant."""
    cx = np.floor(x / params.radius_m).astype(np.int64)
    cy = np.floor(y / params.radius_m).astype(np.int64)
    ct = np.floor(t / params.window_s).astype(np.int64)
    # offsets keep every component positive and apart, so neighbours never wrap
    cx -= cx.min() - 1
    cy -= cy.min() - 1
    ct -= ct.min() - 1
    sy, st = int(cy.max()) + 2, int(ct.max()) + 2
    key = (cx * sy + cy) * st + ct
    order = np.argsort(key, kind="stable")
    skey = key[order]
    start = np.flatnonzero(np.concatenate(([True], skey[1:] != skey[:-1])))
    size = np.diff(np.append(start, len(skey)))
    # the 13 neighbours after a cell in key order (the other 13 see it as theirs)
    steps = sorted(c for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dt in (-1, 0, 1)
                   if (c := (dx * sy + dy) * st + dt) > 0)
    return order, skey[start], start, size, np.array(steps, np.int64)


def _sorted_candidates(x: F, y: F, t: F, params: Params) -> tuple[I, I, I]:
    """(order, p, q): candidate pairs as positions p < q in `order` (items sorted by cell).

    Cells are matched cell to cell (few, and sorted, so `searchsorted` walks them in order),
    and only the 13 neighbours after a cell are probed, so each pair is made once. Working in
    cell order keeps every later gather local in memory: the cost stays O(n log n + pairs)
    also when the columns no longer fit the CPU's caches."""
    n = len(x)
    if n < 2:
        return np.arange(n, dtype=np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    order, cell, start, size, steps = _cell_order(x, y, t, params)
    idx = np.arange(len(cell), dtype=np.int64)
    a_parts, b_parts = [idx[size > 1]], [idx[size > 1]]  # pairs inside one cell
    for step in steps.tolist():
        probe = cell + step
        pos = np.minimum(np.searchsorted(cell, probe), len(cell) - 1)
        hit = cell[pos] == probe
        a_parts.append(idx[hit])
        b_parts.append(pos[hit])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    # expand each cell pair into its size[a] × size[b] item pairs
    na, nb = size[a], size[b]
    m = na * nb
    total = int(m.sum())
    rep = np.repeat(np.arange(len(a)), m)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(m) - m, m)
    width = nb[rep]
    p = start[a][rep] + k // width
    q = start[b][rep] + k % width
    keep = p < q  # inside a cell: each unordered pair once; across cells: always true
    return order, p[keep], q[keep]


def candidate_pairs(x: F, y: F, t: F, params: Params) -> tuple[I, I]:
    """All (i, j), i < j, in neighbouring space-time cells (a superset of the links)."""
    order, p, q = _sorted_candidates(x, y, t, params)
    i, j = order[p], order[q]
    return np.minimum(i, j), np.maximum(i, j)


def plan(lon: F, lat: F, t: F, matter: I, sig: npt.NDArray[np.uint64], params: Params = Params()) -> Plan:
    """Links and merge targets for n items given as columns."""
    x, y = project(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    t = np.asarray(t, np.float64)
    matter = np.asarray(matter, np.int64)
    order, p, q = _sorted_candidates(x, y, t, params)
    # every column in cell order, so the gathers below read nearby rows
    xs, ys, ts, ms = x[order], y[order], t[order], matter[order]
    dist = np.hypot(xs[p] - xs[q], ys[p] - ys[q])
    gap = np.abs(ts[p] - ts[q])
    ok = (dist <= params.radius_m) & (gap <= params.window_s) & (ms[p] == ms[q])
    p, q, dist, gap = p[ok], q[ok], dist[ok], gap[ok]
    ss = np.asarray(sig, np.uint64)[order]
    has_text = ss.any(axis=1)
    empty = ~(has_text[p] & has_text[q])
    sim = (ss[p] == ss[q]).sum(axis=1) / N_HASH
    ok = empty | (sim >= params.min_text) | (dist <= params.near_m)
    p, q, dist, gap, sim, empty = p[ok], q[ok], dist[ok], gap[ok], sim[ok], empty[ok]
    # score for display and auto-merge: closeness in space and time, and text when there is one
    close = 1.0 - dist / params.radius_m
    soon = 1.0 - gap / params.window_s
    score = np.where(empty, 0.5 * close + 0.5 * soon, (close + soon + 2 * sim) / 4)
    i, j = order[p], order[q]
    i, j = np.minimum(i, j), np.maximum(i, j)
    return Plan(np.stack([i, j], axis=1), score, _targets(len(x), t, i, j))


def _targets(n: int, t: F, i: I, j: I) -> I:
    """Each item's root (see the module note): vectorised over the links."""
    rank = np.empty(n, np.int64)
    rank[np.lexsort((np.arange(n), t))] = np.arange(n)
    # orient each link from earlier to later
    swap = rank[i] > rank[j]
    early, late = np.where(swap, j, i), np.where(swap, i, j)
    is_root = np.ones(n, bool)
    is_root[late] = False
    target = np.arange(n)
    link_to_root = is_root[early]
    e, lt = early[link_to_root], late[link_to_root]
    if len(e):
        # the earliest root each item links to: sort by (late, rank of early), keep the first
        o = np.lexsort((rank[e], lt))
        lt, e = lt[o], e[o]
        first = np.ones(len(lt), bool)
        first[1:] = lt[1:] != lt[:-1]
        target[lt[first]] = e[first]
    return target


def clusters(target: I) -> I:
    """A cluster id per item (the root's index)."""
    return target


def pair_scores(truth: I, predicted: I) -> tuple[float, float]:
    """Pairwise precision and recall of 'same cluster' against known truth (O(n log n))."""
    def same_pairs(labels: I) -> int:
        _, counts = np.unique(labels, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())

    both = same_pairs(truth * (int(predicted.max()) + 1) + predicted) if len(truth) else 0
    pred_pairs, true_pairs = same_pairs(predicted), same_pairs(truth)
    return (both / pred_pairs if pred_pairs else 1.0, both / true_pairs if true_pairs else 1.0)
