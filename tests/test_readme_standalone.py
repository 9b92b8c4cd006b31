"""The README's "Using it" commands that need nothing an earlier command made (the storm day,
the 5-fold evaluation, the Han River back-test, …), run exactly as printed. A file of their
own, so that pytest-xdist runs them beside tests/test_readme.py's chain instead of after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_readme import ROOT, bash_blocks, chained, pytestmark, run_in_order  # noqa: F401 - once, in the SQLite pass


@pytest.mark.timeout(900)
def test_standalone_commands_run_as_printed(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    commands = [c for c in bash_blocks("Using it")[0] if not chained(c) and "cityops serve" not in c]
    assert len(commands) >= 4
    outputs = run_in_order(commands, tmp_path)
    assert (tmp_path / "storm.db").exists()
    # The README's 5-fold evaluation on the real messages: 0.9010 on this machine. The bound
    # leaves room for another CPU's arithmetic in the encoder, and fails if the encoder is
    # missing (the n-grams alone give 0.8505).
    [evaluation] = [out for command, out in outputs.items() if "eval classify" in command] or [None]
    if evaluation is not None:
        accuracy = float(re.search(r"^accuracy ([\d.]+)", evaluation, re.M).group(1))  # type: ignore[union-attr]
        assert accuracy > 0.885, evaluation
        assert "sentence encoder: multilingual-e5-small" in evaluation
