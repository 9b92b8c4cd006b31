"""The browser libraries shipped in src/cityops/web/static/vendor/ are what their npm sources build.

Always: every vendor file's sha256 matches manifest.json, nothing unlisted ships, and the
manifest's package versions and integrity hashes are those of web/package-lock.json (exact
versions in web/package.json). Where npm is on PATH and the registry answers: `npm ci` and
the build run again in a temporary folder and must give the same bytes (tools/build_web.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "src" / "cityops" / "web" / "static" / "vendor"
WEB = REPO / "web"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_web", REPO / "tools" / "build_web.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest() -> dict[str, dict[str, dict[str, str]]]:
    manifest: dict[str, dict[str, dict[str, str]]] = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def test_every_vendor_file_matches_the_manifest() -> None:
    files = _manifest()["files"]
    shipped = {p.name for p in VENDOR.iterdir()} - {"manifest.json"}
    assert shipped == set(files), "vendor/ holds exactly the files the manifest lists"
    for name, entry in files.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert {"echarts.js", "maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"} <= set(files)


def test_manifest_versions_are_the_lockfile_s() -> None:
    manifest = _manifest()
    lock = _tool().locked(WEB)
    assert manifest["packages"] == lock
    pinned = json.loads((WEB / "package.json").read_text(encoding="utf-8"))
    for group in ("dependencies", "devDependencies"):
        for name, version in pinned[group].items():
            assert version == lock[name]["version"], f"{name} is pinned to an exact version"
    assert {"echarts", "maplibre-gl", "esbuild"} <= set(lock)
    assert all(p["integrity"].startswith("sha512-") for p in lock.values())
    assert {f["package"] for f in manifest["files"].values()} <= set(lock)


def _registry_reachable() -> str | None:
    """Why a rebuild cannot run here, or None."""
    if shutil.which("npm") is None:
        return "npm is not on PATH"
    try:
        subprocess.run(["npm", "ping", "--loglevel=error"], cwd=WEB, check=True, capture_output=True, timeout=20)
    except (subprocess.SubprocessError, OSError) as e:
        return f"the npm registry does not answer ({type(e).__name__})"
    return None


@pytest.mark.timeout(300)
def test_a_rebuild_from_the_lockfile_gives_the_same_bytes() -> None:
    reason = _registry_reachable()
    if reason:
        pytest.skip(f"{reason}: the shipped files were checked against the manifest only")
    assert _tool().rebuild_and_compare(WEB, VENDOR) == []
