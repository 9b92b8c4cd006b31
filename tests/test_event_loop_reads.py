"""No coroutine reads the store on the event loop itself: on PostgreSQL each read is a round
trip to the database server, and a handler waiting for it stalls every other request. Reads
from coroutines go through `Platform.aread` (a thread on PostgreSQL). A static rule, since a
stall shows only under load."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "cityops"
# Deliberate: the token check reads on the loop only in SQLite (PostgreSQL has the token cache
# and a thread); the MQTT bridge reads its settings once while the server starts.
ALLOWED = {("api/deps.py", "actor"), ("sensing/mqtt.py", "start_bridge")}


def _direct_reads(fn: ast.AsyncFunctionDef) -> list[int]:
    found, stack = [], list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue  # a nested function runs wherever it is sent (a thread, aread)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("read", "reader") and "store" in ast.unparse(node.func.value)):
            found.append(node.lineno)
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_no_coroutine_reads_the_store_on_the_event_loop() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(fn, ast.AsyncFunctionDef) and (rel, fn.name) not in ALLOWED:
                offenders += [f"{rel}:{line} {fn.name}" for line in _direct_reads(fn)]
    assert not offenders, "use `await platform.aread(fn, …)` instead: " + ", ".join(offenders)
