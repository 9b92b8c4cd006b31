"""A segment's text is orjson's text of its [t, result] pairs (times as integers), and reads back."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.detect.columns import Columns
from cityops.sensing.store import decode_segments, encode_segments

times = st.integers(10**12, 10**13 - 1)
results = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.sampled_from([0.0, -0.0, 1e-7, 12.5, 1e300])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), times, results), min_size=1, max_size=60, unique_by=lambda x: (x[0], x[1])))
def test_segments_are_orjsons_text_and_read_back(rows: list[tuple[int, int, float]]) -> None:
    ds, t, r = (np.array(c) for c in zip(*rows, strict=True))
    cols = Columns.of(ds.astype(np.int64), t.astype(np.int64), r.astype(np.float64)).sorted()
    segments = encode_segments(cols)
    for d, t0, t1, n, text in segments:
        mine = cols.take(cols.datastream == d)
        expected = orjson.dumps([[int(a), float(b)] for a, b in zip(mine.t, mine.result, strict=True)]).decode()
        assert text == expected and (t0, t1, n) == (mine.t[0], mine.t[-1], len(mine))
    back = decode_segments([(d, n, text) for d, _, _, n, text in segments])
    assert np.array_equal(back.t, cols.t) and np.array_equal(back.result, cols.result)


def test_times_of_any_size_are_written_as_integers() -> None:
    cols = Columns.of(np.array([1, 1]), np.array([5, 10**13 + 7]), np.array([1.5, 2.0])).sorted()
    assert encode_segments(cols)[0][4] == "[[5,1.5],[10000000000007,2.0]]"
