#!/usr/bin/env bash
# Build the Linux desktop bundle: dist/position-sync/ and dist/position-sync-<version>-linux-<arch>.tar.gz.
#
#   packaging/build.sh [--dist DIR] [--work DIR] [--no-tar]
#
# DIST_DIR and WORK_DIR (environment) do the same as --dist/--work; they default to dist/ and
# build/ in the checkout (both git-ignored). PYTHON picks the interpreter (default: python3, the
# one the project is installed in). POSITION_SYNC_BUNDLE_POSTGRES=1 bundles psycopg2 (+12 MB).
#
# Steps: install PyInstaller if missing (the pin is the `packaging` extra in pyproject.toml), run
# packaging/position-sync.spec, add the desktop file, AppStream metadata, hicolor icons (rendered
# from resources/icons/app.svg) and install.sh to the bundle, check that the frozen program
# reports the package version and passes its self-check, pack the tar.gz, print the sizes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build}"
MAKE_TAR=1
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"

usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dist) DIST_DIR="$2"; shift 2 ;;
    --work) WORK_DIR="$2"; shift 2 ;;
    --no-tar) MAKE_TAR=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
mkdir -p "$DIST_DIR" "$WORK_DIR"
DIST_DIR="$(cd "$DIST_DIR" && pwd)"
WORK_DIR="$(cd "$WORK_DIR" && pwd)"
BUNDLE="$DIST_DIR/position-sync"
cd "$ROOT"

# The version comes from pyproject.toml; the installed metadata (what --version reads, and what
# the spec copies into the bundle) must agree, or the bundle would report a stale version.
VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
INSTALLED="$("$PYTHON" -c 'from importlib import metadata
try:
    print(metadata.version("position-sync"))
except metadata.PackageNotFoundError:
    print("")')"
if [[ "$INSTALLED" != "$VERSION" ]]; then
  echo "build.sh: pyproject.toml says $VERSION but the installed position-sync is '${INSTALLED:-missing}';" \
    "run: $PYTHON -m pip install -e ." >&2
  exit 1
fi

mapfile -t REQUIREMENTS < <("$PYTHON" -c 'import tomllib
for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["packaging"]:
    print(r)')
# Installed and new enough? pip's own copy of `packaging` reads the pins; any doubt means install.
if ! "$PYTHON" - "${REQUIREMENTS[@]}" 2>/dev/null <<'PY'
import sys
from importlib import metadata

from pip._vendor.packaging.requirements import Requirement

for text in sys.argv[1:]:
    requirement = Requirement(text)
    if not requirement.specifier.contains(metadata.version(requirement.name), prereleases=True):
        sys.exit(1)
PY
then
  echo "build.sh: installing ${REQUIREMENTS[*]}"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
fi
echo "build.sh: PyInstaller $("$PYTHON" -m PyInstaller --version), position-sync $VERSION, $(uname -m)"

started=$SECONDS
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR" "$ROOT/packaging/position-sync.spec"

# Desktop integration files travel inside the bundle, so the tar.gz alone is enough to install.
mkdir -p "$BUNDLE/share/applications" "$BUNDLE/share/metainfo" "$BUNDLE/share/icons"
cp "$ROOT/packaging/linux/position-sync.desktop" "$BUNDLE/share/applications/"
cp "$ROOT"/packaging/linux/*.metainfo.xml "$BUNDLE/share/metainfo/"
QT_QPA_PLATFORM=offscreen "$PYTHON" "$ROOT/packaging/make_icons.py" "$BUNDLE/share/icons"
install -m 0755 "$ROOT/packaging/install.sh" "$BUNDLE/install.sh"

# The frozen program must know its version (package metadata) and pass its own smoke test.
FROZEN_VERSION="$("$BUNDLE/position-sync" --version)"
if [[ "$FROZEN_VERSION" != "position-sync $VERSION" ]]; then
  echo "build.sh: the frozen program says '$FROZEN_VERSION', expected 'position-sync $VERSION'" >&2
  exit 1
fi
if ! "$BUNDLE/position-sync" --self-check >"$WORK_DIR/self-check.log" 2>&1; then
  cat "$WORK_DIR/self-check.log" >&2
  echo "build.sh: the frozen self-check failed (log above)" >&2
  exit 1
fi
echo "build.sh: $(tail -n 1 "$WORK_DIR/self-check.log")"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB (%.1f MiB)", b / 1e6, b / 1048576 }'; }
echo "build.sh: built $BUNDLE in $((SECONDS - started)) s"
echo "build.sh: bundle on disk: $(mb "$(du -s --block-size=1 "$BUNDLE" | cut -f1)")," \
  "$(find "$BUNDLE" -type f | wc -l) files"
if [[ "$MAKE_TAR" == 1 ]]; then
  TARBALL="$DIST_DIR/position-sync-$VERSION-linux-$(uname -m).tar.gz"
  tar -C "$DIST_DIR" -czf "$TARBALL" position-sync
  echo "build.sh: $TARBALL: $(mb "$(stat -c %s "$TARBALL")")"
fi
