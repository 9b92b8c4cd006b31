"""The citizen's side: what the outbox costs a case action, how fast the sender empties it,
and the citizen indicators over a million return visits.

Run alone: `PYTHONPATH=src python benchmarks/bench_notify.py`. Baselines run in the same
process: the same case steps for reporters who left no contact (nothing queued); the same
mails sent straight with smtplib in the sender's batches (no outbox); the existing 综合评价
indicators over a million cases.
"""

from __future__ import annotations

import os
import smtplib
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

Row = tuple[str, float, str, float, str]
CASES = 500
N_ROWS = 1_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _steps(platform: Any, contact: dict[str, str] | None) -> float:
    """Seconds per case for intake + register + dispatch, 100 cases a transaction."""
    from cityops.cases import service
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.workflow import Command
    from cityops.core import utcnow

    rep = service.NewReport(matter_code="06010", description="垃圾", lon=114.3055, lat=30.5928, source="citizen_app",
                            attributes={"contact": contact} if contact else {})
    acc, disp = Actor("a", Role.ACCEPTOR), Actor("d", Role.DISPATCHER)

    def batch(repo: Any) -> None:
        for _ in range(100):
            case = service.intake(repo, platform, rep, acc, utcnow())
            service.act(repo, platform, case.id, Command(Action.REGISTER, acc, utcnow()))
            service.act(repo, platform, case.id, Command(Action.DISPATCH, disp, utcnow()))

    start = time.perf_counter()
    for _ in range(CASES // 100):
        platform.store.write(batch)
    return (time.perf_counter() - start) / CASES


def _indicator_frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(1)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    reported = pl.Series([t0 + timedelta(minutes=int(m)) for m in rng.integers(0, 40_000, 1000)])
    idx = rng.integers(0, 1000, N_ROWS)
    keys = {
        "case_id": np.arange(N_ROWS), "district": rng.choice([f"4201{i:02d}" for i in range(16)], N_ROWS),
        "department": rng.choice([f"D{i}" for i in range(28)], N_ROWS),
        "matter": rng.choice([f"06{i:03d}" for i in range(50)], N_ROWS),
        "channel": rng.choice(["hotline_12345", "citizen_app", "open311"], N_ROWS),
    }
    base = pl.DataFrame(keys).with_columns(reported.gather(idx).alias("reported_at"))
    revisits = base.with_columns(
        pl.Series(rng.choice(["pending", "answered"], N_ROWS, p=[0.08, 0.92])).alias("status"),
        pl.Series(rng.integers(0, 2, N_ROWS)).alias("solved"),
        pl.Series(rng.choice(["satisfied", "basic", "unsatisfied"], N_ROWS)).alias("satisfaction"),
        pl.Series(rng.choice(["", "reopened"], N_ROWS, p=[0.95, 0.05])).alias("outcome"),
    )
    cases = base.with_columns((pl.col("reported_at") + pl.duration(minutes=30)).alias("first_accepted_at"))
    ts = pl.col("reported_at")
    evaluate = base.rename({}).with_columns(
        pl.lit("").alias("grid"), pl.lit("closed").alias("status"),
        *(ts.alias(c) for c in ("registered_at", "dispatched_at", "accepted_at", "disposed_at", "closed_at")),
        (ts + pl.duration(hours=4)).alias("due_at"), pl.lit(0).alias("rework_count"),
        pl.lit(False).alias("overdue_disposed"))
    return revisits, cases, evaluate


def run() -> list[Row]:
    from aiosmtpd.controller import Controller

    from cityops.core import open_platform
    from cityops.evaluate.indicators import compute_indicators
    from cityops.notify import sender
    from cityops.notify.indicators import compute_citizen

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        platform = open_platform(Path(tmp) / "bench.db")
        base = _steps(platform, None)
        with_outbox = _steps(platform, {"email": "ren@example.org", "phone": "13800138000"})
        rows.append(("case steps queueing 2 messages each (intake+register+dispatch)", with_outbox * 1e6,
                     "µs/case", base * 1e6, "µs/case without a contact"))

        class Sink:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                return "250 OK"

        port = _free_port()
        controller = Controller(Sink(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            platform.store.write(lambda repo: (repo.set_setting("notify.smtp_host", "127.0.0.1"),
                                               repo.set_setting("notify.smtp_port", str(port))))
            with platform.store.read() as repo:
                emails = repo.conn.execute("SELECT count(*) FROM notify_outbox WHERE channel = 'email'").fetchone()[0]
                jobs = [sender.Job(*tuple(r)) for r in repo.conn.execute(
                    "SELECT id, case_id, seq, subscription_id, channel, address, subject, body, attempts"
                    " FROM notify_outbox WHERE channel = 'email'")]
                cfg = sender.load_config(repo.conn)
            start = time.perf_counter()
            for i in range(0, len(jobs), sender.BATCH):  # the sender's batches, without the outbox
                with smtplib.SMTP("127.0.0.1", port) as smtp:
                    for job in jobs[i:i + sender.BATCH]:
                        smtp.send_message(sender.email(job, cfg))
            direct = len(jobs) / (time.perf_counter() - start)
            platform.store.write(lambda repo: repo.conn.execute(
                "UPDATE notify_outbox SET status = 'cancelled' WHERE channel = 'sms'"))
            start = time.perf_counter()
            while sender.run_once(platform):
                pass
            through = emails / (time.perf_counter() - start)
        finally:
            controller.stop()
            platform.close()
        rows.append(("mails sent through the outbox (claim, SMTP, mark)", through, "mails/s",
                     direct, "mails/s straight over smtplib, same batches"))
    revisits, cases, evaluate = _indicator_frames()
    start = time.perf_counter()
    compute_citizen(revisits, cases, "district", total=True)
    citizen = time.perf_counter() - start
    start = time.perf_counter()
    compute_indicators(evaluate, "district", datetime(2026, 12, 1, tzinfo=UTC), total=True)
    existing = time.perf_counter() - start
    rows.append((f"citizen indicators by district, {N_ROWS:,} return visits + cases", citizen * 1e3, "ms",
                 existing * 1e3, "ms for 综合评价 over as many cases"))
    return rows


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
