"""The README's "Using it" commands run exactly as printed, in a shell that never activated the
virtualenv: only `.venv/bin/` is replaced by this interpreter, the demo database lives in a
temporary folder, and the HTTP example talks to a real `cityops serve` on a free port."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LONG_RUNNING = ("cityops serve", "cityops demo --db", "cityops demo\n")


def bash_blocks(section: str) -> list[list[str]]:
    """The ```bash blocks of a README section, each as its commands (continuations joined)."""
    text = (ROOT / "README.md").read_text("utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", body, re.S):
        joined = block.replace("\\\n", " ")
        blocks.append([line for line in joined.splitlines() if line.strip() and not line.startswith("#")])
    return blocks


def local(command: str) -> str:
    """The command as this checkout runs it: the venv's programs are this interpreter's."""
    py = shlex.quote(sys.executable)
    # One pass: this interpreter may itself live in a .venv/bin (as in CI's clone).
    command = re.sub(r"\.venv/bin/(cityops|python)\b",
                     lambda m: f"{py} -m cityops" if m.group(1) == "cityops" else py, command)
    return command.replace("../shared/data", str(SHARED_DATA))


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    env.pop("VIRTUAL_ENV", None)  # as in a shell that never activated it
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.timeout(900)
def test_using_it_runs_as_printed(tmp_path: Path) -> None:
    commands, http = bash_blocks("Using it")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    ran = []
    for command in commands:
        if "cityops serve" in command:
            continue  # runs until stopped: started below for the HTTP example
        if "../shared/data" in command and not SHARED_DATA.exists():
            continue
        out = sh(local(command), tmp_path)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        ran.append(command)
    assert len(ran) >= len(commands) - 2
    assert (tmp_path / "demo.db").exists()

    port = free_port()
    [serve] = [c for c in commands if "cityops serve" in c]
    serve = serve.split("#", 1)[0].replace("--port 8000", f"--port {port}")
    server = subprocess.Popen(["bash", "-c", "exec " + local(serve)], cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        script = "set -e\n" + "\n".join(local(c).replace("localhost:8000", f"127.0.0.1:{port}") for c in http)
        out = sh(script, tmp_path)
        assert out.returncode == 0, out.stderr
        assert '"status":"registered"' in out.stdout, out.stdout + out.stderr
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0, "SIGTERM ends the server with exit status 0"
    wal = tmp_path / "demo.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL is checkpointed at shutdown"
