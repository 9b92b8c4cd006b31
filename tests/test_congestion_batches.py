"""The congestion detector reads the two-hour look-back only for detectors already jammed at the
start of a batch, and reads back the batch's span only where something was stored there before
it: whatever is stored and whatever a batch brings, its detections are those of the detector run
over every stored reading of the look-back and the batch."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.detect.columns import Columns, Groups
from cityops.detect.congestion import detect_congestion, learn_profile
from cityops.sensing.ingest import CONGESTION_LOOKBACK_MS, batch_congestion
from cityops.sensing.registry import detector_spec, register_specs_op
from cityops.sensing.store import (
    insert_batch,
    insert_columns,
    read_ranges,
    save_profile,
    speed_profile,
)

STEP = 300_000
BASE = 1_780_000_000_000 // STEP * STEP
SPEEDS = st.sampled_from([12.0, 30.0, 53.0, 60.0, 88.0, None])  # free flow 90: below 54 a jam; None a gap
# Per detector: the slot it starts at and its speeds, one a slot (a missing one: a gap).
RUNS = st.tuples(*[st.tuples(st.integers(0, 40), st.lists(SPEEDS, max_size=30))] * 2)


def _cols(ds: list[int], runs: tuple[tuple[int, list[float | None]], ...]) -> Columns:
    rows = [(ds[d], BASE + (start + k) * STEP, v) for d, (start, speeds) in enumerate(runs)
            for k, v in enumerate(speeds) if v is not None]
    return Columns.of([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def _everything(conn: Any, cols: Columns) -> list[Any]:
    """The detector over the whole look-back of every detector in the batch (the plain way)."""
    profile = speed_profile(conn)
    assert profile is not None
    mine = cols.sorted()
    g = Groups.of(mine)
    first = mine.t[g.starts]
    recent = read_ranges(conn, g.ids, first - CONGESTION_LOOKBACK_MS, mine.t[g.ends - 1])
    since = dict(zip(g.ids.tolist(), first.tolist(), strict=True))
    return [d for d in detect_congestion(recent, profile) if d.detail["ended_at"] >= since[d.datastream]]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=RUNS, batch=RUNS)
def test_batches_detect_as_the_whole_look_back_would(platform: Any, stored: Any, batch: Any) -> None:
    p = platform
    with p.store.read() as repo:
        ds = [int(r[0]) for r in repo.conn.execute("SELECT id FROM sta_datastream ORDER BY id LIMIT 2")]
    if len(ds) < 2:
        specs = [detector_spec(f"look-back {k}", f"二环线-L{k}", 114.3 + k / 100, 30.6, None, {}) for k in (1, 2)]
        ds = p.store.write(lambda repo: register_specs_op(repo, p, specs))
        week = BASE - 8 * 86_400_000 + np.arange(2016) * STEP
        history = Columns.of(np.repeat(ds, 2016), np.tile(week, 2), np.full(4032, 90.0))
        p.store.write(lambda repo: save_profile(repo.conn, learn_profile(history, {d: "二环线" for d in ds})))

    def check(repo: Any) -> None:
        repo.conn.execute("DELETE FROM observation_segment")
        repo.conn.execute("DELETE FROM observation_recent")
        insert_columns(repo.conn, _cols(ds, stored))
        cols = _cols(ds, batch)
        if not len(cols):
            return
        # The batch says each reading twice, the second time jammed: the first write wins.
        cols = Columns.of(np.r_[cols.datastream, cols.datastream], np.r_[cols.t, cols.t],
                          np.r_[cols.result, np.full(len(cols), 12.0)])
        inserted = insert_batch(repo.conn, cols)  # as ingest does: stored, then detected
        expected = _everything(repo.conn, cols)
        assert batch_congestion(repo.conn, cols) == expected  # every span read back
        assert batch_congestion(repo.conn, cols, inserted.own) == expected  # fresh spans not read

    p.store.write(check)
