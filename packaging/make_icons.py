"""Render ``resources/icons/app.svg`` into the hicolor PNG sizes a Linux desktop looks up.

Menus, docks, task switchers and AppStream front ends each ask the icon theme for a fixed
size, and not all of them scale an SVG, so the build ships a PNG per size. They are rendered
at build time from the one SVG (never committed) so the icon has a single source. Qt's own
``QSvgRenderer`` does the rendering: PySide6 is already a dependency, no Inkscape or
ImageMagick is needed, and ``QT_QPA_PLATFORM=offscreen`` lets it run on a build machine with no
display. A QImage needs no QApplication at all, only the SVG module.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py OUT_DIR

writes ``OUT_DIR/hicolor/<n>x<n>/apps/position-sync.png`` for each size, plus the SVG itself
as ``OUT_DIR/hicolor/scalable/apps/position-sync.svg``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "resources" / "icons" / "app.svg"
ICON_NAME = "position-sync"  # the .desktop file's Icon= and the metainfo's <icon>
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def icon_path(out_dir: Path, size: int) -> Path:
    """Where the freedesktop icon theme spec puts an application icon of ``size`` pixels."""
    return out_dir / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"


def render_png(svg: Path, size: int, target: Path) -> None:
    """Render ``svg`` into a ``size`` x ``size`` PNG with a transparent background.

    Rendered, not scaled: a 16 px icon drawn from the vectors is crisp where a downscaled
    512 px bitmap would be blurred.
    """
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target)):  # PNG, from the suffix
        raise OSError(f"could not write {target}")


def make_icons(out_dir: Path, sizes: Iterable[int] = SIZES, svg: Path = SOURCE) -> list[Path]:
    """Write every PNG size and the scalable SVG under ``out_dir/hicolor``; returns the PNGs."""
    # Must be set before the first Qt import picks a platform; harmless when one was chosen.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    written = []
    for size in sizes:
        target = icon_path(out_dir, size)
        render_png(svg, size, target)
        written.append(target)
    scalable = out_dir / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="folder that receives hicolor/<n>x<n>/apps/*.png")
    parser.add_argument("--svg", type=Path, default=SOURCE, help=f"source SVG (default {SOURCE})")
    args = parser.parse_args(argv)
    try:
        written = make_icons(args.out_dir, svg=args.svg)
    except (OSError, ValueError) as exc:
        print(f"make_icons: {exc}", file=sys.stderr)
        return 1
    print(
        f"make_icons: {len(written)} PNG sizes ({', '.join(map(str, SIZES))}) in {args.out_dir / 'hicolor'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
