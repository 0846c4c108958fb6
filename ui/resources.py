"""Icons from the SVG files in ``resources/icons``, cached, and recoloured ones for the tray.

QtSvg ships in PySide6-Essentials, so both the SVG image plugin (``QIcon(path)``) and
``QSvgRenderer`` work without the full PySide6; recolouring goes through the renderer because
the tray icon's colour is the whole message and must not depend on a theme.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from position_sync.app.paths import resource_dir

ICONS = resource_dir() / "icons"
_TRAY_BASE_COLOUR = "#009E73"


@cache
def icon(name: str) -> QIcon:
    """``icon("resync")`` for ``resources/icons/resync.svg``; an empty icon if it is missing."""
    path = ICONS / f"{name}.svg"
    if not path.exists():
        return QIcon()
    result = QIcon()
    for size in (16, 20, 24, 32, 48, 64):
        result.addPixmap(render(path.read_bytes(), size))
    return result


def render(svg: bytes, size: int) -> QPixmap:
    """Render SVG bytes at ``size`` device pixels (crisp at every size, unlike a scaled PNG)."""
    renderer = QSvgRenderer(QByteArray(svg))
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return QPixmap.fromImage(image)


@cache
def tray_icon(colour: str) -> QIcon:
    """The tray icon filled with ``colour`` (green, amber, red: the worst status at a glance)."""
    try:
        svg = (ICONS / "tray.svg").read_text(encoding="utf-8").replace(_TRAY_BASE_COLOUR, colour)
    except OSError:  # an install without the icon files still gets a tray in the right colour
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="{colour}"/></svg>'
    result = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        result.addPixmap(render(svg.encode("utf-8"), size))
    return result
