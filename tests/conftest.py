"""Shared fixtures: a platform over a temporary database, users and tokens, an API client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip the test saying which file is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is only on development machines)")
    return path


@pytest.fixture(scope="session")
def demo_city() -> Any:
    from cityops.geo.pack import wuhan_demo_pack

    return wuhan_demo_pack()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Any]:
    from cityops.core import open_platform

    p = open_platform(tmp_path / "test.db")
    yield p
    p.close()
