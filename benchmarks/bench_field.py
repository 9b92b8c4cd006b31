"""Field work: patrol coverage on the unit-grid raster, cleaning a phone photo, reading and
stripping a phone video.

Run alone: `PYTHONPATH=src python benchmarks/bench_field.py`. Baselines in the same run:
coverage against a Python loop testing each unit grid's centre against the track (what
vectorised shapely replaces); photo cleaning against Pillow just decoding the same photo; a
30 MB video read and stripped against hashing its bytes (which content addressing does anyway).
"""

from __future__ import annotations

import hashlib
import io
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from PIL import Image  # noqa: E402

from cityops.field import images, plan, videos  # noqa: E402
from cityops.field.patrol import SEE_M  # noqa: E402
from cityops.field.samples import jpeg, mp4  # noqa: E402
from cityops.geo.wuhan import wuhan_demo_pack  # noqa: E402
from harness import Row, best_of  # noqa: E402


def run() -> list[Row]:
    city = wuhan_demo_pack()
    g = city.grids
    rows_all = []
    track_all = []
    for i in range(20):  # 20 patrol grids' cells and a 100 m lane walk over each
        code = city.patrol_grids[i].code
        rows_all.append(np.flatnonzero(g.patrol == i))
        track_all.append(np.array(plan.walking_route(city, code, 100.0)))
    frame = plan.LocalFrame(float(g.lon[rows_all[0]].mean()), float(g.lat[rows_all[0]].mean()))

    def prepared() -> list[tuple[object, object]]:
        out = []
        for rows, track in zip(rows_all, track_all, strict=True):
            pts = shapely.points(*frame.to_m(g.lon[rows], g.lat[rows]))
            line = shapely.linestrings(np.column_stack(frame.to_m(track[:, 0], track[:, 1])))
            shapely.prepare(line)
            out.append((pts, line))
        return out

    data = prepared()
    cells = sum(len(r) for r in rows_all)
    vec = best_of(lambda: [shapely.dwithin(p, line, SEE_M) for p, line in data])
    plain = [(p, shapely.from_wkb(shapely.to_wkb(line))) for p, line in data]  # unprepared copies
    loop = best_of(lambda: [[pt.distance(line) <= SEE_M for pt in p] for p, line in plain], repeat=1)  # type: ignore[attr-defined]
    photo = jpeg(4000, 3000, lon=114.3, lat=30.6)
    zone = images.ZoneInfo("Asia/Shanghai")

    def decode() -> None:
        with Image.open(io.BytesIO(photo)) as img:
            img.load()

    clean = best_of(lambda: images.process(photo, zone))
    base = best_of(decode)
    clip = mp4(duration_s=30, lon=114.3, lat=30.6, gps_track=True, padding=30 * 2**20 - 2000)
    strip = best_of(lambda: videos.process(clip, "mp4"))
    digest = best_of(lambda: hashlib.sha256(clip).digest())
    return [
        ("coverage, unit grids tested per second (vectorised)", cells / vec, "cells/s", cells / loop, "cells/s (loop)"),
        ("photo 12 MP cleaned (decode, EXIF, re-encode, thumbnail)", clean * 1000, "ms", base * 1000, "ms (decode only)"),
        ("video 30 MB read and stripped (no decoder)", strip * 1000, "ms", digest * 1000, "ms (SHA-256 of it)"),
    ]


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
