"""Duplicate linking across sources: reports, sensor events and inspectors' findings.

Two items *link* when all hold (a symmetric predicate):
  distance ≤ radius_m (local equirectangular metres), |Δt| ≤ window_s,
  compatible matter (same group, see COMPATIBLE), and text similarity ≥ min_text
  (MinHash estimate of the Jaccard similarity of character bigrams), unless one side has no
  text (a sensor event) or the two lie within near_m, where space, time and matter decide.

Candidates come from spatial hashing: each item's cell is (x // radius, y // radius,
t // window); an item can only link to items in the 3 × 3 × 3 neighbouring cells. Items are
sorted by cell once; each cell is matched to the 13 neighbours after it (sorted probes with
`searchsorted`), and pairs are expanded, checked and scored with NumPy a block of cells at a
time, so the cost is O(n log n + pairs), never O(n²), with no Python loop per item, and the
temporaries stay cache-sized however large n is (at 1M items, whole-array temporaries made
the cost per item 2–3× that at 100k).

Merging is transitive-safe: an item is merged only into a *root*, the earliest item it links
to directly that links to nothing earlier itself (order: time, then input index). So every
merge is backed by a direct link to the case's first report, a chain A–B–C never drags C into
A's case unless C links to A, and no merged item lies farther than radius_m from its root.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741

EARTH_M_PER_DEG = 111_320.0
N_HASH = 8
TEXT_CHARS = 48
BLOCK = 16_384  # items per block of candidate pairs (see _blocks)
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
    # reports of one spot scatter by a phone's position error (tens of metres each), so two of
    # them often lie 80–120 m apart: 75 m missed 1 in 11 duplicate pairs on the benchmark stream
    near_m: float = 100.0


@dataclass(frozen=True)
class Plan:
    """pairs: every link (i < j); target[k] = root index item k merges into, or k itself."""

    pairs: I
    score: F
    target: I


def matter_groups(codes: Sequence[str]) -> I:
    """An integer per item; equal integers are compatible matters (numbered in code order).
    Hashing the few distinct codes, not sorting n strings, keeps this O(n)."""
    alias = {c: min(group) for group in COMPATIBLE for c in group}
    distinct = set(codes)
    # key=str: a missing code (None) sorts as its name did when codes went through a str array
    number = {name: k for k, name in enumerate(sorted({alias.get(c, c) for c in distinct}, key=str))}
    lookup = {c: number[alias.get(c, c)] for c in distinct}
    return np.fromiter(map(lookup.__getitem__, codes), np.int64, len(codes))


def signatures(texts: Sequence[str], chunk: int = 1024) -> npt.NDArray[np.uint64]:
    """MinHash (N_HASH values) of each text's character bigrams over its first TEXT_CHARS
    characters; all zeros for an empty text. Vectorised over the code points, in chunks small
    enough that the temporaries stay in the CPU's caches (the cost per text then does not grow
    with n)."""
    out = np.zeros((len(texts), N_HASH), np.uint64)
    for a in range(0, len(texts), chunk):
        out[a:a + chunk] = _minhash(texts[a:a + chunk])
    return out


def _minhash(texts: Sequence[str]) -> npt.NDArray[np.uint64]:
    n = len(texts)
    cps32 = np.array(texts, dtype=f"<U{TEXT_CHARS}").view(np.uint32).reshape(n, TEXT_CHARS)
    used = np.flatnonzero(cps32.any(axis=0))  # columns past every text's end hold no bigram
    cps = cps32[:, :max(int(used[-1]) + 1 if len(used) else 0, 2)].astype(np.uint64)
    grams = cps[:, :-1] * np.uint64(1_114_112) + cps[:, 1:]
    valid = cps[:, 1:] != 0
    # a non-bigram takes the value of a real bigram of its row: each row's minimum stays
    grams = np.where(valid, grams, grams[np.arange(n), valid.argmax(axis=1)][:, None])
    out = np.empty((n, N_HASH), np.uint64)
    h, shifted = np.empty_like(grams), np.empty_like(grams)
    with np.errstate(over="ignore"):
        for k in range(N_HASH):  # N_HASH passes over the matrix, not a loop over items
            np.add(grams, np.uint64(k + 1), out=h)
            np.multiply(h, _PRIME, out=h)
            np.right_shift(h, np.uint64(29), out=shifted)
            np.bitwise_xor(h, shifted, out=h)
            h.min(axis=1, out=out[:, k])
    out[~valid.any(axis=1)] = 0
    return out


def project(lon: F, lat: F) -> tuple[F, F]:
    """Local metres (equirectangular about the mean latitude): fine within a city."""
    lat0 = np.deg2rad(np.nanmean(lat)) if len(lat) else 0.0
    return lon * EARTH_M_PER_DEG * np.cos(lat0), lat * EARTH_M_PER_DEG


@dataclass(frozen=True)
class _Cells:
    """Items sorted by space-time cell. A cell's key is ((cx * sy) + cy) * st + ct, so cells
    lie x, then y, then time, and a neighbour's key is the cell's key plus a constant step."""

    order: I  # item index at each sorted position
    key: I  # per cell, ascending
    start: I  # per cell: first sorted position
    size: I  # per cell: number of items
    steps: tuple[int, ...]  # key steps to the 13 neighbours after a cell


def _cells(x: F, y: F, t: F, params: Params) -> _Cells:
    cx = np.floor(x / params.radius_m).astype(np.int64)
    cy = np.floor(y / params.radius_m).astype(np.int64)
    ct = np.floor(t / params.window_s).astype(np.int64)
    # offsets keep every component positive and apart, so neighbours never wrap
    cx -= cx.min() - 1
    cy -= cy.min() - 1
    ct -= ct.min() - 1
    sy, st = int(cy.max()) + 2, int(ct.max()) + 2
    key = (cx * sy + cy) * st + ct
    order = np.argsort(key)  # order inside a cell does not matter: ties go by input index
    skey = key[order]
    start = np.flatnonzero(np.concatenate(([True], skey[1:] != skey[:-1])))
    size = np.diff(np.append(start, len(skey)))
    # the 13 neighbours after a cell in key order; the other 13 see this cell as theirs
    steps = sorted(c for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dt in (-1, 0, 1)
                   if (c := (dx * sy + dy) * st + dt) > 0)
    return _Cells(order, skey[start], start, size, tuple(steps))


def _blocks(cells: _Cells) -> Iterator[tuple[int, int, I, I]]:
    """Candidate pairs as sorted positions p < q, a block of about BLOCK items at a time, with
    the span [lo, up) of sorted positions the block's pairs touch.

    Blocks keep every temporary within the CPU's caches, so the cost per item does not grow
    with n (one global array of pairs outgrows them at 1M items and costs 2–3× per pair).
    Each cell is matched to its 13 later neighbours, so every pair is made once; the probes
    are sorted, so `searchsorted` walks the cells in order."""
    key, start, size = cells.key, cells.start, cells.size
    n_cells, n = len(key), int(start[-1] + size[-1])
    bounds = np.unique(np.append(np.searchsorted(start, np.arange(0, n, BLOCK)), n_cells))
    reach = cells.steps[-1]
    for c0, c1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        own = np.arange(c0, c1, dtype=np.int64)
        hi = int(np.searchsorted(key, key[c1 - 1] + reach, "right"))
        near = key[c0:hi]  # every cell a probe from this block can hit
        multi = own[size[c0:c1] > 1]
        a_parts, b_parts = [multi], [multi]  # pairs inside one cell
        for step in cells.steps:
            probe = key[c0:c1] + step
            pos = np.minimum(np.searchsorted(near, probe), len(near) - 1)
            hit = near[pos] == probe
            a_parts.append(own[hit])
            b_parts.append(pos[hit] + c0)
        a, b = np.concatenate(a_parts), np.concatenate(b_parts)
        # expand each cell pair into its size[a] × size[b] item pairs
        nb = size[b]
        m = size[a] * nb
        rep = np.repeat(np.arange(len(a)), m)
        k = np.arange(len(rep), dtype=np.int64) - np.repeat(np.cumsum(m) - m, m)
        width = nb[rep]
        p = start[a][rep] + k // width
        q = start[b][rep] + k % width
        keep = p < q  # inside a cell: each unordered pair once; across cells: always true
        yield int(start[c0]), int(start[hi]) if hi < n_cells else n, p[keep], q[keep]


def candidate_pairs(x: F, y: F, t: F, params: Params) -> tuple[I, I]:
    """All (i, j), i < j, in neighbouring space-time cells (a superset of the links)."""
    if len(x) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cells = _cells(x, y, t, params)
    parts = [(cells.order[p], cells.order[q]) for _, _, p, q in _blocks(cells)]
    i, j = np.concatenate([b[0] for b in parts]), np.concatenate([b[1] for b in parts])
    return np.minimum(i, j), np.maximum(i, j)


@dataclass
class _Links:
    """One block's links: the pair (input indices, i < j) and score, and for the merge
    targets each link's earlier and later item as sorted positions, the earlier one's time
    and input index."""

    i: I
    j: I
    score: F
    early: I
    late: I
    early_t: F
    early_index: I


def plan(lon: F, lat: F, t: F, matter: I, sig: npt.NDArray[np.uint64], params: Params = Params()) -> Plan:
    """Links and merge targets for n items given as columns."""
    x, y = project(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    t = np.asarray(t, np.float64)
    matter = np.asarray(matter, np.int64)
    sig = np.asarray(sig, np.uint64)
    n = len(x)
    if n < 2:
        return Plan(np.empty((0, 2), np.int64), np.empty(0, np.float64), np.arange(n, dtype=np.int64))
    cells = _cells(x, y, t, params)
    found = [_links(cells.order[lo:up], p - lo, q - lo, lo, x, y, t, matter, sig, params)
             for lo, up, p, q in _blocks(cells)]
    i, j, score = (np.concatenate([getattr(f, name) for f in found]) for name in ("i", "j", "score"))
    target = _targets(n, cells.order, *(np.concatenate([getattr(f, name) for f in found])
                                        for name in ("early", "late", "early_t", "early_index")))
    return Plan(np.stack([i, j], axis=1), score, target)


def _links(rows: I, p: I, q: I, lo: int, x: F, y: F, t: F, matter: I, sig: npt.NDArray[np.uint64],
           params: Params) -> _Links:
    """The links among one block's candidates: p, q index `rows`, the block's items (input
    indices) in sorted order from sorted position lo. Gathering the block's rows first keeps
    the reads per pair within the caches."""
    bx, by, bt, bm = x[rows], y[rows], t[rows], matter[rows]
    dist = np.hypot(bx[p] - bx[q], by[p] - by[q])
    gap = np.abs(bt[p] - bt[q])
    ok = (dist <= params.radius_m) & (gap <= params.window_s) & (bm[p] == bm[q])
    p, q, dist, gap = p[ok], q[ok], dist[ok], gap[ok]
    bs = sig[rows]
    has_text = np.count_nonzero(bs, axis=1) > 0
    empty = ~(has_text[p] & has_text[q])
    sim = (bs[p] == bs[q]).sum(axis=1) / N_HASH
    ok = empty | (sim >= params.min_text) | (dist <= params.near_m)
    p, q, dist, gap, sim, empty = p[ok], q[ok], dist[ok], gap[ok], sim[ok], empty[ok]
    # score for display and auto-merge: closeness in space and time, and text when there is one
    close = 1.0 - dist / params.radius_m
    soon = 1.0 - gap / params.window_s
    score = np.where(empty, 0.5 * close + 0.5 * soon, (close + soon + 2 * sim) / 4)
    # items in time order, ties by input index
    ip, iq = rows[p], rows[q]
    p_first = (bt[p] < bt[q]) | ((bt[p] == bt[q]) & (ip < iq))
    early = np.where(p_first, p, q)
    return _Links(np.minimum(ip, iq), np.maximum(ip, iq), score, early + lo, np.where(p_first, q, p) + lo,
                  bt[early], rows[early])


def _targets(n: int, order: I, early: I, late: I, early_t: F, early_index: I) -> I:
    """Each item's root (see the module note), from the links' earlier and later items as
    sorted positions. Per-item minima with `ufunc.at`, no sort over the links."""
    is_root = np.ones(n, bool)
    is_root[late] = False
    to_root = is_root[early]
    late, early_t, early_index = late[to_root], early_t[to_root], early_index[to_root]
    # the earliest root each item links to: the earliest time, then the lowest input index
    first_t = np.full(n, np.inf)
    np.minimum.at(first_t, late, early_t)
    at_first = early_t == first_t[late]
    root = np.full(n, n, np.int64)
    np.minimum.at(root, late[at_first], early_index[at_first])
    target = np.arange(n, dtype=np.int64)
    merged = np.flatnonzero(root < n)
    target[order[merged]] = root[merged]
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
