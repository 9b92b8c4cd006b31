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
from stores import POSTGRES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import free_port, wait_ready  # noqa: E402

# The README's and the docs' commands run as printed, on the files they name (demo.db, SQLite;
# docs/postgresql.md's own PostgreSQL commands included): the same in either pass, so once.
pytestmark = pytest.mark.skipif(POSTGRES, reason="the README's commands run once, in the SQLite pass")

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


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the README's commands and then the docs' (which use the README's demo.db)."""
    folder = tmp_path_factory.mktemp("readme")
    for name in ("examples", "tools", "benchmarks"):  # paths the commands name from the checkout's root
        (folder / name).symlink_to(ROOT / name)
    return folder


@pytest.mark.timeout(900)
def test_using_it_runs_as_printed(workspace: Path) -> None:
    commands = [c for c in bash_blocks("Using it")[0] if chained(c)]
    assert len(run_in_order(commands, workspace)) == len(runnable_here(commands, SHARED_DATA.exists()))
    assert (workspace / "demo.db").exists()


def chained(command: str) -> bool:
    """Whether a README command works on what an earlier one left (the demo database, the
    back-test's files); the others run in tests/test_readme_standalone.py, on the other worker."""
    return any(mark in command for mark in ("demo.db", "/tmp/wl", "suggested.yaml"))


def needs_data(command: str) -> bool:
    """Whether a README command reads data the repository does not carry: it names ../shared/data,
    or its comment says so ("needs data", for a script that finds the file itself)."""
    return "../shared/data" in command or "(needs data" in command


def runnable_here(commands: list[str], have_data: bool) -> list[str]:
    """The commands to run, in order: without ../shared/data, those that read it are left out,
    and so is every command whose comment says it needs one of them ("needs the import above")."""
    out, skipped = [], set()
    for command in commands:
        if "cityops serve" in command:
            continue  # runs until stopped: started by test_http_examples_run_as_printed
        if needs_data(command) and not have_data:
            skipped.add(verb(command))
            continue
        after = re.search(r"needs the ([\w-]+) above", command)
        if after and after.group(1) in skipped:
            continue
        out.append(command)
    return out


def verb(command: str) -> str:
    """`import` for `.venv/bin/cityops import …`, `seoul2020` for `… examples/backtest/seoul2020.py`."""
    found = re.search(r"cityops (?:\w+ )?([\w-]+)", command) if "bin/cityops" in command else None
    return found.group(1) if found else Path(command.split()[1]).stem


def test_without_the_data_its_dependants_are_left_out_too() -> None:
    """A clone without ../shared: the import is left out, and the routing report that reads the
    imported history with it (the suite once ran it and failed)."""
    commands = bash_blocks("Using it")[0]
    without = runnable_here(commands, have_data=False)
    assert not [c for c in without if needs_data(c)]
    [report] = [c for c in commands if "routing report" in c]
    assert "needs the import above" in report and report not in without
    assert len(without) >= len(commands) - 8, "only the data commands and their dependants are left out"


def run_in_order(commands: list[str], folder: Path) -> dict[str, str]:
    """Each command's standard output, by command (those runnable here, see runnable_here)."""
    ran = {}
    for command in runnable_here(commands, SHARED_DATA.exists()):
        out = sh(local(command), folder)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        ran[command] = out.stdout
    return ran


def docs_blocks() -> list[tuple[str, list[str]]]:
    """Every fenced block of docs/*.md that holds a command, as (file, its command lines);
    `$ ` prompts are dropped and the output lines after them ignored."""
    blocks = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```\w*\n(.*?)```", path.read_text("utf-8"), re.S):
            lines = [line.removeprefix("$ ") for line in block.replace("\\\n", " ").splitlines()]
            lines = [line for line in lines if COMMAND.match(line)]
            if lines:
                blocks.append((path.name, lines))
    return blocks


COMMAND = re.compile(r"([A-Z_0-9]+=\S+ )*(\.venv/bin/|curl |printf |mosquitto_)|[A-Z_]+=\$\(")
# Why a printed command is not run here, by what it contains.
NOT_RUN = {
    "cityops serve": "runs until stopped; the HTTP examples run against one started by the test",
    "mosquitto_sub": "waits for messages until stopped; MQTT is tested by tests/test_mqtt.py",
    "mosquitto_pub": "needs Debian's mosquitto-clients; MQTT is tested by tests/test_mqtt.py",
    "benchmarks/run.py": "a benchmark, run by its own command, not by the suite",
    "tools/build_web.py": "rebuilds the bundled front end from npm; tests/test_web_vendor.py runs its check",
    "-m pytest": "a test run: the suite runs that test itself",
    "--master": "starts Spark (a JVM, a minute or more); tests/test_spark.py runs the jobs",
    "--to s3": "needs the city's own S3-compatible store; tests/test_attachments.py runs it against a local one",
}


def runnable(line: str, readme: set[str]) -> bool:
    bare = line.split("  #", 1)[0].strip()
    if bare in readme or re.search(r"cityops demo\s*(#|$)", line):
        return False  # run by the README test already, or serves until stopped
    if "../shared/data" in line and not SHARED_DATA.exists():
        return False
    return not any(marker in line for marker in NOT_RUN)


def readme_commands() -> set[str]:
    commands, http = bash_blocks("Using it")
    return {c.split("  #", 1)[0].strip() for c in commands + http}


@pytest.mark.timeout(900)
def test_docs_commands_run_as_printed(workspace: Path) -> None:
    """The command-line examples of docs/*.md, in order, over the README's demo.db."""
    if not (workspace / "demo.db").exists():
        pytest.skip("needs the demo.db that test_using_it_runs_as_printed makes")
    readme = readme_commands()
    ran = 0
    for name, lines in docs_blocks():
        if any("localhost:8000" in line for line in lines):
            continue  # an HTTP example: run by test_http_examples_run_as_printed
        for line in lines:
            if not runnable(line, readme):
                continue
            out = sh(local(line), workspace)
            assert out.returncode == 0, f"docs/{name}: {line}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
            ran += 1
    assert ran >= 30


def test_http_examples_run_as_printed(workspace: Path) -> None:
    """The README's HTTP example, then every docs block that talks to localhost:8000, against a
    real `cityops serve` of the demo database; each docs file's blocks run in one shell, as a
    reader types them, and every curl must get a 2xx (`--fail-with-body` is added to see it)."""
    if not (workspace / "demo.db").exists():
        pytest.skip("needs the demo.db that test_using_it_runs_as_printed makes")
    commands, http = bash_blocks("Using it")
    port = free_port()
    [serve] = [c for c in commands if "cityops serve" in c]
    serve = serve.split("#", 1)[0].replace("--port 8000", f"--port {port}")
    server = subprocess.Popen(["bash", "-c", "exec " + local(serve)], cwd=workspace,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def http_script(lines: list[str]) -> str:
        body = "\n".join(local(c).replace("localhost:8000", f"127.0.0.1:{port}") for c in lines)
        return "set -eo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n" + body

    try:
        wait_ready(f"http://127.0.0.1:{port}")
        out = sh(http_script(http), workspace)
        assert out.returncode == 0, out.stdout + out.stderr
        assert '"status":"registered"' in out.stdout, out.stdout + out.stderr
        _photo(workspace / "photo.jpg")
        by_file: dict[str, list[str]] = {}
        for name, lines in docs_blocks():
            if any("localhost:8000" in line for line in lines):
                by_file.setdefault(name, []).extend(line for line in lines if runnable(line, set()))
        assert len(by_file) >= 4
        for name, lines in by_file.items():
            out = sh(http_script(lines), workspace)
            assert out.returncode == 0, f"docs/{name}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
            if name == "workflow.md":  # the docs alone carry a case to closure
                assert '"status":"closed"' in out.stdout.strip().splitlines()[-1], out.stdout[-3000:]
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0, "SIGTERM ends the server with exit status 0"
    wal = workspace / "demo.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL is checkpointed at shutdown"


def _photo(path: Path) -> None:
    """The reader's own photo in the field example: a small JPEG."""
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 160, 90)).save(path, "JPEG")
