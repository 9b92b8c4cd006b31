"""Progress of long intel work on the terminal (stderr, so stdout stays the result).

Retraining and the 5-fold evaluation spend nearly all their time in the sentence encoder when
its cache is cold: every training text (about 20,000 for the matter model) is embedded once,
at 10 ms to 0.3 s each on two cores, before the cache file makes later runs fast. Without a
word on the screen such a run looked hung for a quarter of an hour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

EMBEDDING = ("句向量编码 embedding texts with the sentence encoder (the slow part; "
             "cached afterwards, so the next run is fast)")


class Steps:
    """A bar for the run's own steps (folds, stages), and one for embedding whenever the
    encoder has texts its cache does not hold."""

    def __init__(self, progress: Progress, what: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(what, total=total)
        self.embedding: TaskID | None = None
        self.started = False

    def step(self, description: str | None = None) -> None:
        """One step done; `description` names the next."""
        self.progress.advance(self.task)
        if description:
            self.progress.update(self.task, description=description)

    def stage(self, description: str) -> None:
        """The next stage begins: the one before it is done."""
        if self.started:
            self.progress.advance(self.task)
        self.started = True
        self.progress.update(self.task, description=description)

    def embedded(self, done: int, total: int) -> None:
        if self.embedding is None or done == 0:
            if self.embedding is not None:
                self.progress.remove_task(self.embedding)
            self.embedding = self.progress.add_task(EMBEDDING, total=total)
        self.progress.update(self.embedding, completed=done, total=total)


@contextlib.contextmanager
def shown(what: str, total: int, console: Any = None) -> Iterator[Steps]:
    """Bars on stderr while the block runs: the steps, and the embedding (see the module note)."""
    from cityops.intel import embed

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console or Console(stderr=True))
    with progress:
        steps = Steps(progress, what, total)
        with embed.reporting(steps.embedded):
            yield steps
