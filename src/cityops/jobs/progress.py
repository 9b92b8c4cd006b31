"""Progress of a job on the terminal (stderr): the run's steps, and the Spark tasks of the
stages running now, read from Spark's status tracker while the job runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


@contextlib.contextmanager
def shown() -> Iterator[Progress]:
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=False)
    with progress:
        yield progress


@contextlib.contextmanager
def step(progress: Progress, what: str) -> Iterator[None]:
    """A step without a count: a spinner, then done."""
    task = progress.add_task(what, total=1)
    yield
    progress.update(task, completed=1)


@contextlib.contextmanager
def spark_tasks(progress: Progress, spark: Any, what: str) -> Iterator[None]:
    """A bar of the Spark tasks done over every stage that ran while the block ran."""
    task = progress.add_task(what, total=None)
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()
    seen: dict[int, tuple[int, int]] = {}

    def poll() -> None:
        while True:
            with contextlib.suppress(Exception):  # the tracker may be gone as the block ends
                for stage in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(stage)
                    if info is not None:
                        seen[stage] = (info.numCompletedTasks, info.numTasks)
                done = sum(d for d, _ in seen.values())
                total = sum(t for _, t in seen.values())
                progress.update(task, completed=done, total=total or None,
                                description=f"{what} (Spark stages {len(seen)})")
            if stop.wait(0.5):
                return

    thread = threading.Thread(target=poll, name="spark-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        total = sum(t for _, t in seen.values()) or 1
        progress.update(task, completed=total, total=total)
