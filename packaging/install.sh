#!/usr/bin/env bash
# Install a built Position Sync bundle for the current user, with a menu entry; or remove it.
#
#   install.sh [--prefix DIR] [--bundle DIR]     install (or upgrade in place)
#   install.sh [--prefix DIR] --uninstall        remove what install.sh put there
#
# The bundle goes to PREFIX/opt/position-sync with a link PREFIX/bin/position-sync; PREFIX is
# ~/.local by default. The desktop file, icons and AppStream metadata go to $XDG_DATA_HOME
# (~/.local/share) by default, or PREFIX/share when --prefix is given. The bundle is the folder
# this script sits in when run from an unpacked tar.gz, else dist/position-sync of the checkout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP=position-sync
PREFIX=""
BUNDLE=""
UNINSTALL=0

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --bundle) BUNDLE="$2"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ -n "$PREFIX" ]]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  DATA_HOME="$PREFIX/share"
else
  PREFIX="$HOME/.local"
  DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
OPT_DIR="$PREFIX/opt/$APP"
BIN_LINK="$PREFIX/bin/$APP"
APPS_DIR="$DATA_HOME/applications"
ICONS_DIR="$DATA_HOME/icons/hicolor"
METAINFO_DIR="$DATA_HOME/metainfo"
DESKTOP_FILE="$APPS_DIR/$APP.desktop"

refresh_caches() {
  # Menus and icon themes cache their indexes; both tools are optional (not every desktop has them).
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$APPS_DIR" || true
  fi
  # A per-user hicolor icon cache is refreshed only if one exists: creating one would hide the
  # icons other programs later put there without refreshing it. Without a cache, GTK and Qt read
  # the folders, and a newer folder time tells them to look again.
  if [[ -d "$ICONS_DIR" ]]; then
    touch "$ICONS_DIR"
    if [[ -f "$ICONS_DIR/icon-theme.cache" ]] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
      gtk-update-icon-cache -q -t -f "$ICONS_DIR" || true
    fi
  fi
}

if [[ "$UNINSTALL" == 1 ]]; then
  # Only what install.sh wrote: the link only if it points into our folder, no shared directory.
  if [[ -L "$BIN_LINK" && "$(readlink "$BIN_LINK")" == "$OPT_DIR/"* ]]; then
    rm -f "$BIN_LINK"
  fi
  rm -rf "$OPT_DIR"
  rm -f "$DESKTOP_FILE" "$METAINFO_DIR"/io.github.position_sync.*.metainfo.xml
  rm -f "$ICONS_DIR"/*/apps/"$APP".png "$ICONS_DIR"/scalable/apps/"$APP".svg
  refresh_caches
  echo "install.sh: removed Position Sync from $PREFIX and $DATA_HOME"
  echo "install.sh: your configuration and data were kept (see Help > About in the app for where)"
  exit 0
fi

if [[ -z "$BUNDLE" ]]; then
  if [[ -x "$HERE/$APP" && -d "$HERE/_internal" ]]; then
    BUNDLE="$HERE"                      # run from an unpacked tar.gz
  else
    BUNDLE="$HERE/../dist/$APP"         # run from the checkout after packaging/build.sh
  fi
fi
if [[ ! -x "$BUNDLE/$APP" || ! -d "$BUNDLE/_internal" ]]; then
  echo "install.sh: no built bundle in $BUNDLE (run packaging/build.sh first, or pass --bundle DIR)" >&2
  exit 1
fi
BUNDLE="$(cd "$BUNDLE" && pwd)"
if [[ "$BUNDLE" == "$OPT_DIR" ]]; then
  echo "install.sh: $BUNDLE is already the installed copy" >&2
  exit 1
fi

# Copy beside the old install, then swap, so a failed copy never leaves half an install.
mkdir -p "$PREFIX/opt" "$PREFIX/bin" "$APPS_DIR" "$METAINFO_DIR"
STAGING="$(mktemp -d "$PREFIX/opt/.$APP.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
cp -a "$BUNDLE/." "$STAGING/"
rm -rf "$OPT_DIR"
mv "$STAGING" "$OPT_DIR"
trap - EXIT
chmod 0755 "$OPT_DIR"
ln -sfn "$OPT_DIR/$APP" "$BIN_LINK"

# The menu runs the absolute path: ~/.local/bin is not on every desktop session's PATH.
sed -e "s|^Exec=$APP\\b|Exec=$OPT_DIR/$APP|" -e "s|^TryExec=$APP\$|TryExec=$OPT_DIR/$APP|" \
  "$BUNDLE/share/applications/$APP.desktop" >"$DESKTOP_FILE"
chmod 0644 "$DESKTOP_FILE"
cp "$BUNDLE"/share/metainfo/*.metainfo.xml "$METAINFO_DIR/"
for icon in "$BUNDLE"/share/icons/hicolor/*/apps/"$APP".*; do
  size_dir="$(basename "$(dirname "$(dirname "$icon")")")"
  mkdir -p "$ICONS_DIR/$size_dir/apps"
  cp "$icon" "$ICONS_DIR/$size_dir/apps/"
done
refresh_caches

echo "install.sh: installed $("$OPT_DIR/$APP" --version) in $OPT_DIR"
echo "install.sh: command $BIN_LINK, menu entry $DESKTOP_FILE"
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "install.sh: note: $PREFIX/bin is not on your PATH (the menu entry runs the full path)" ;;
esac
# Menus read $XDG_DATA_HOME and $XDG_DATA_DIRS; a --prefix elsewhere needs adding to the latter.
case ":${XDG_DATA_HOME:-$HOME/.local/share}:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}:" in
  *":$DATA_HOME:"*) ;;
  *) echo "install.sh: note: menus look in \$XDG_DATA_DIRS, which lacks $DATA_HOME" ;;
esac
