"""``position-sync --self-check`` with Qt: the core checks plus what only a Qt start proves.

A frozen build that lacks a Qt plugin fails in ways a plain import does not show: without the
``offscreen``/``xcb`` platform plugin the app aborts before any Python runs, without the SVG
image-format and icon-engine plugins every icon is silently blank. So this starts a real
``QApplication`` (offscreen, so it works on a build machine and over SSH), renders the icons,
builds and closes the main window and the About dialog, imports pyqtgraph, and runs the demo
sync on the qasync loop, the way the window runs it.

Nothing from PySide6 is imported at module level: a missing Qt piece becomes a ``FAILED``
line instead of a traceback before the first check.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from position_sync.app.paths import resource_dir
from position_sync.self_check import Report, check_demo_sync, core_checks

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

APP_ICON_CHECK_SIZE = 256  # larger than app.svg's own 64 px: only the SVG icon engine scales up


def _start_qt() -> tuple[QApplication, str]:
    # Before the first Qt import: the platform plugin is chosen when QApplication is created,
    # and a smoke test must not need a display.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QGuiApplication

    from position_sync.ui.main import application

    app = application()
    platform = QGuiApplication.platformName()
    if platform != "offscreen":
        raise RuntimeError(f"Qt started on the {platform!r} platform, not offscreen")
    return app, f"Qt {qVersion()}, PySide6 {pyside_version}, platform {platform}"


def check_qt_plugins() -> str:
    """The SVG image-format plugin reads SVG; the SVG icon engine renders it at any size."""
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QIcon, QImageReader

    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    if "svg" not in formats:
        raise RuntimeError(f"no SVG image-format plugin (formats: {', '.join(sorted(formats))})")
    app_svg = resource_dir() / "icons" / "app.svg"
    pixmap = QIcon(str(app_svg)).pixmap(APP_ICON_CHECK_SIZE, APP_ICON_CHECK_SIZE)
    if pixmap.isNull():
        raise RuntimeError(f"QIcon({app_svg.name}) rendered nothing")
    # Without the icon engine QIcon falls back to the image plugin and never scales an image
    # above its own size (64 px here), so a full-size pixmap proves the engine is loaded.
    if pixmap.width() != APP_ICON_CHECK_SIZE:
        raise RuntimeError(
            f"QIcon({app_svg.name}) came back {pixmap.width()} px wide: the SVG icon engine plugin is missing"
        )
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    return f"imageformats/svg and iconengines/svg load from {plugins}"


def check_qt_locale_data() -> str:
    """Qt's ICU-backed services find their data: collation, time-zone names, a legacy codec.

    The Linux build ships a trimmed ICU data library (packaging/bundle_tools.py); if it were
    broken, Qt would not fail but quietly fall back (byte-order sorting, empty zone names), so
    each service is asked something only ICU's data can answer.
    """
    if not sys.platform.startswith("linux"):
        return "not checked: Qt uses the system's own locale services on this platform"
    from PySide6.QtCore import QCollator, QLocale, QStringDecoder, QTimeZone

    english = QLocale("en_US")
    if QCollator(english).compare("apple", "Banana") >= 0:
        raise RuntimeError("no ICU collation: 'apple' sorts after 'Banana'")
    zone = QTimeZone(b"Asia/Kolkata")
    name = zone.displayName(QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, english)
    if name != "India Standard Time":
        raise RuntimeError(f"no ICU time-zone names: Asia/Kolkata is called {name!r}")
    if not QStringDecoder("windows-1252").isValid():
        raise RuntimeError("no ICU converter for windows-1252")
    return "ICU collation, time-zone names and code pages answer"


def check_icons() -> str:
    """Every icon of the window renders through ``ui.resources`` into a non-blank pixmap."""
    from position_sync.ui.resources import ICONS, render

    names = sorted(ICONS.glob("*.svg"))
    if not names:
        raise FileNotFoundError(f"no SVG icons in {ICONS}")
    blank = []
    for path in names:
        image = render(path.read_bytes(), 32).toImage()
        if image.isNull() or (image.pixelColor(16, 16).alpha() == 0 and _all_transparent(image)):
            blank.append(path.stem)
    if blank:
        raise RuntimeError(f"blank icons: {', '.join(blank)}")
    return f"{len(names)} SVG icons rendered to 32 px pixmaps"


def _all_transparent(image: object) -> bool:
    width, height = image.width(), image.height()  # type: ignore[attr-defined]
    return all(
        image.pixelColor(x, y).alpha() == 0  # type: ignore[attr-defined]
        for x in range(0, width, 2)
        for y in range(0, height, 2)
    )


def check_window() -> str:
    """The main window and the About dialog build, paint and close (the whole ui import graph)."""
    from PySide6.QtWidgets import QApplication

    from position_sync.ui.about import AboutDialog, AboutInfo
    from position_sync.ui.window import MainWindow

    window = MainWindow("Position Sync self-check")
    window.resize(1000, 640)
    window.show()
    QApplication.processEvents()
    picture = window.grab()
    about = AboutDialog(AboutInfo.defaults(), window)
    about_picture = about.grab()
    about.close()
    window.quitting = True
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    if picture.isNull() or about_picture.isNull():
        raise RuntimeError("the window or the About dialog painted nothing")
    return (
        f"main window painted {picture.width()}x{picture.height()}, "
        f"About dialog {about_picture.width()}x{about_picture.height()}, both closed"
    )


def check_charts() -> str:
    """pyqtgraph (imported lazily by the History tab) and a date axis chart like the window's."""
    import pyqtgraph as pg

    plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
    plot.plot([1_700_000_000, 1_700_000_060], [1.0, 2.0])
    plot.close()
    plot.deleteLater()
    return f"pyqtgraph {pg.__version__}, a PlotWidget with a DateAxisItem"


def run_self_check(out: TextIO | None = None) -> int:
    """Qt first (it must not start after a failure elsewhere), then the core, then one sync."""
    report = Report(out)
    report.header()
    started: list[QApplication] = []

    def start() -> str:
        app, detail = _start_qt()
        started.append(app)
        return detail

    if report.run("qt", start):
        report.run("qt plugins", check_qt_plugins)
        report.run("qt locale data", check_qt_locale_data)
        report.run("icons", check_icons)
        report.run("window", check_window)
        report.run("charts", check_charts)
    with tempfile.TemporaryDirectory(prefix="position-sync-self-check-") as tmp:
        data_dir = Path(tmp)
        core_checks(report, data_dir)
        if started:
            import qasync

            name = "demo sync (qasync)"
            qasync.run(report.run_async(name, lambda: check_demo_sync(data_dir / "demo")))
        else:
            import asyncio

            asyncio.run(report.run_async("demo sync", lambda: check_demo_sync(data_dir / "demo")))
    return report.finish()
