"""Build the dashboard's browser libraries from the npm registry into the Python package.

    python tools/build_web.py            # npm ci in web/, bundle, write src/cityops/web/static/vendor/
    python tools/build_web.py --check    # rebuild into a temporary folder, compare with what is committed

`web/package.json` pins exact versions of ECharts, MapLibre GL and esbuild; `web/package-lock.json`
holds their registry integrity hashes, and `npm ci` installs exactly those. ECharts is bundled with
esbuild from `web/src/echarts.js` (only the charts and components the panels use); MapLibre GL ships
as the ES modules of its npm package (the map and its worker), copied by this script. The output
and a `manifest.json` (each package's version and lockfile integrity, each file's sha256) are
committed, so the Python package needs no Node; `tests/test_web_vendor.py` checks the files against
the manifest and the manifest against the lockfile, and rebuilds when npm is at hand.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
VENDOR = REPO / "src" / "cityops" / "web" / "static" / "vendor"
# (package, file in the package, name in vendor/): shipped as the package publishes them.
COPIED = (
    ("maplibre-gl", "dist/maplibre-gl.mjs", "maplibre-gl.mjs"),
    ("maplibre-gl", "dist/maplibre-gl-worker.mjs", "maplibre-gl-worker.mjs"),
    ("maplibre-gl", "dist/maplibre-gl.css", "maplibre-gl.css"),
    ("maplibre-gl", "LICENSE.txt", "LICENSE.maplibre-gl.txt"),
    ("echarts", "LICENSE", "LICENSE.echarts.txt"),
    ("echarts", "NOTICE", "NOTICE.echarts.txt"),
)
BUNDLED = {"echarts.js": ("echarts", "src/echarts.js")}  # vendor name: (package, esbuild entry in web/)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked(web: Path = WEB) -> dict[str, dict[str, str]]:
    """Version and integrity of every direct dependency, from package-lock.json."""
    lock = json.loads((web / "package-lock.json").read_text(encoding="utf-8"))
    root = lock["packages"][""]
    names = {**root.get("dependencies", {}), **root.get("devDependencies", {})}
    out = {}
    for name in sorted(names):
        entry = lock["packages"][f"node_modules/{name}"]
        out[name] = {"version": entry["version"], "integrity": entry["integrity"]}
    return out


def npm_ci(web: Path) -> None:
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
                   cwd=web, check=True)


def build(out: Path, web: Path = WEB) -> dict[str, object]:
    """Write the vendor files and manifest.json into `out` (node_modules must be installed)."""
    out.mkdir(parents=True, exist_ok=True)
    modules = web / "node_modules"
    esbuild = modules / ".bin" / "esbuild"
    for name, (_, entry) in BUNDLED.items():
        subprocess.run([str(esbuild), str(web / entry), "--bundle", "--format=esm", "--minify", "--target=es2020",
                        "--legal-comments=none", "--log-level=warning", f"--outfile={out / name}"], cwd=web, check=True)
    for package, source, name in COPIED:
        shutil.copyfile(modules / package / source, out / name)
    packages = locked(web)
    files = {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size, "package": package,
                    "from": f"esbuild bundle of web/{entry}"} for name, (package, entry) in BUNDLED.items()}
    files |= {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size, "package": package,
                     "from": f"node_modules/{package}/{source}"} for package, source, name in COPIED}
    manifest: dict[str, object] = {
        "generated_by": "tools/build_web.py",
        "packages": packages,
        "files": dict(sorted(files.items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def differences(a: Path, b: Path) -> list[str]:
    """Files that differ between two vendor folders (or exist in only one)."""
    names = {p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}
    return sorted(n for n in names
                  if not (a / n).is_file() or not (b / n).is_file() or not filecmp.cmp(a / n, b / n, shallow=False))


def rebuild_and_compare(web: Path = WEB, vendor: Path = VENDOR) -> list[str]:
    """npm ci and build in a copy of web/ (so the working tree's node_modules stays as it is)."""
    with tempfile.TemporaryDirectory(prefix="cityops-web-") as tmp:
        work = Path(tmp) / "web"
        shutil.copytree(web, work, ignore=shutil.ignore_patterns("node_modules"))
        npm_ci(work)
        build(Path(tmp) / "vendor", work)
        return differences(Path(tmp) / "vendor", vendor)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="rebuild into a temporary folder and compare")
    args = parser.parse_args(argv)
    if args.check:
        diff = rebuild_and_compare()
        print("vendor files match their sources" if not diff else f"differ from a rebuild: {', '.join(diff)}")
        return 1 if diff else 0
    npm_ci(WEB)
    shutil.rmtree(VENDOR, ignore_errors=True)
    manifest = build(VENDOR)
    files = manifest["files"]
    assert isinstance(files, dict)
    for name, f in files.items():
        print(f"{name:28} {f['bytes']:>10,} bytes  {f['sha256'][:16]}  {f['from']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
