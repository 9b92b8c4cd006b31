"""Patrol grids: group unit grids into a fixed number of compact, contiguous patches.

Each district gets patches in proportion to its unit grids; a district's cells are cut by
recursive bisection (balanced sizes, so inspectors get comparable beats), then any piece a
straight cut left detached is handed to the neighbouring patch it touches. Pure array work on
the lattice raster; the only Python loops run once per patch, never per cell.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Labels = npt.NDArray[np.int64]
_MAX_REPAIR_ROUNDS = 64


def allocate(sizes: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    """Split total over groups in proportion to sizes (largest remainder), at least 1 each."""
    if total < len(sizes):
        raise ValueError(f"{total} patches cannot cover {len(sizes)} groups")
    share = sizes / sizes.sum() * total
    base: npt.NDArray[np.int64] = np.maximum(np.floor(share).astype(np.int64), 1)
    while base.sum() > total:  # the minimum of 1 overshot: take from the most over-served
        over = np.where(base > 1, base - share, -np.inf)
        base[np.argmax(over)] -= 1
    remainder = share - base
    extra = total - int(base.sum())
    if extra > 0:
        base[np.argsort(-remainder, kind="stable")[:extra]] += 1
    return base


def components(labels: Labels) -> Labels:
    """4-connected components of equal non-negative labels on a 2-D raster.

    Returns, per cell, the flat index of its component's smallest cell (-1 where label < 0).
    One sparse-graph pass (SciPy's connected components over the edges between equal
    neighbours), then each component named by its first cell.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows, cols = labels.shape
    n = rows * cols
    flat_labels = labels.ravel()
    valid = flat_labels >= 0
    # Edges between 4-neighbours carrying the same label, as flat index pairs.
    index = np.arange(n, dtype=np.int64).reshape(rows, cols)
    src, dst = [], []
    for a, b in ((index[:, :-1], index[:, 1:]), (index[:-1, :], index[1:, :])):
        a, b = a.ravel(), b.ravel()
        keep = valid[a] & (flat_labels[a] == flat_labels[b])
        src.append(a[keep])
        dst.append(b[keep])
    i, j = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    _, first = np.unique(comp, return_index=True)  # np.unique's index is the first (smallest) cell
    return np.where(valid, first[comp], -1).reshape(rows, cols)


def _bisect(rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], k: int) -> Labels:
    """Labels 0..k-1 for cells, by recursive cuts across the longer extent."""
    out = np.zeros(len(rows), dtype=np.int64)
    stack: list[tuple[npt.NDArray[np.int64], int, int]] = [(np.arange(len(rows)), k, 0)]
    while stack:
        idx, parts, first = stack.pop()
        if parts == 1:
            out[idx] = first
            continue
        r, c = rows[idx], cols[idx]
        along_rows = np.ptp(r) >= np.ptp(c)
        order = np.lexsort((c, r)) if along_rows else np.lexsort((r, c))
        left = parts // 2
        cut = round(len(idx) * left / parts)
        stack.append((idx[order[:cut]], left, first))
        stack.append((idx[order[cut:]], parts - left, first + left))
    return out


def _repair(patch: Labels, district: Labels) -> Labels:
    """Hand each detached piece of a patch to a touching patch of the same district."""
    rows, cols = patch.shape
    index = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    a = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    b = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    flat_district = district.ravel()
    for _ in range(_MAX_REPAIR_ROUNDS):
        flat = patch.ravel()
        comp = components(patch).ravel()
        live = np.flatnonzero(flat >= 0)
        size = np.bincount(comp[live], minlength=rows * cols)
        # The main piece of each patch is its largest component.
        by_size = live[np.lexsort((-size[comp[live]], flat[live]))]
        first = np.r_[True, flat[by_size][1:] != flat[by_size][:-1]]
        main = np.zeros(rows * cols, dtype=bool)
        main[comp[by_size[first]]] = True
        in_main = np.zeros(rows * cols, dtype=bool)
        in_main[live] = main[comp[live]]
        stray = (flat[src] >= 0) & ~in_main[src]
        touch = stray & in_main[dst] & (flat[dst] != flat[src])
        touch &= flat_district[dst] == flat_district[src]
        if not touch.any():
            break
        # Per stray piece, the smallest touching patch label takes it (deterministic).
        target = np.full(rows * cols, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(target, comp[src[touch]], flat[dst[touch]])
        cells = live[~in_main[live]]
        moving = cells[target[comp[cells]] != np.iinfo(np.int64).max]
        new = flat.copy()
        new[moving] = target[comp[moving]]
        patch = new.reshape(rows, cols)
    return patch


def partition(district: Labels, total: int) -> Labels:
    """Patch label (0..total-1, -1 for no cell) per raster cell of a district raster.

    Labels are grouped by district (district 0's patches first) and, inside a district,
    numbered north→south then west→east by the patch's centre of mass.
    """
    flat = district.ravel()
    live = np.flatnonzero(flat >= 0)
    n_districts = int(flat[live].max()) + 1
    sizes = np.bincount(flat[live], minlength=n_districts)
    present = np.flatnonzero(sizes)
    counts = np.zeros(n_districts, dtype=np.int64)
    counts[present] = allocate(sizes[present], total)
    rows_all, cols_all = np.divmod(live, district.shape[1])
    patch = np.full(flat.shape, -1, dtype=np.int64)
    offset = 0
    for d in present:  # one pass per district
        mine = flat[live] == d
        patch[live[mine]] = _bisect(rows_all[mine], cols_all[mine], int(counts[d])) + offset
        offset += int(counts[d])
    patch = _repair(patch.reshape(district.shape), district).ravel()
    # Renumber: by district, then centre of mass row (north first), then column.
    labels = patch[live]
    n = offset
    cnt = np.bincount(labels, minlength=n)
    mean_r = np.bincount(labels, weights=rows_all, minlength=n) / cnt
    mean_c = np.bincount(labels, weights=cols_all, minlength=n) / cnt
    owner = np.zeros(n, dtype=np.int64)
    owner[labels] = flat[live]
    order = np.lexsort((mean_c, np.round(mean_r, 6), owner))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    patch[live] = rank[labels]
    return patch.reshape(district.shape)
