"""Who should act on a case: "部件先属主后属地，事件先属地后属主".

A component matter goes first to the owner of the component, then to the area (the district's
area department); an event matter goes first to the area, then to the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class DepartmentLike(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def serves(self) -> tuple[str, ...]: ...

    @property
    def district(self) -> str | None: ...


def candidates(
    department_type: str,
    is_component: bool,
    district: str,
    departments: Sequence[DepartmentLike],
    area_type: str = "urban_management",
) -> list[str]:
    """Department codes in the order a dispatcher should try them."""
    serving = [d for d in departments if department_type in d.serves]
    # A district's own unit of a type outranks the city-wide one.
    owners = [d.code for d in serving if d.district == district] + [
        d.code for d in serving if d.district is None
    ]
    area = [d.code for d in departments if d.district == district and area_type in d.serves]
    ordered = owners + area if is_component else area + owners
    return list(dict.fromkeys(ordered))
