"""Is there a display to open the window on? Asked before Qt is, because Qt cannot answer.

Without one, Qt's xcb plugin prints half a page about plugins and then aborts the process
(SIGABRT, exit 134): no sentence a user can act on, and no ``atexit`` handler runs, so the
demo's throw-away directory stays behind. So the entry point asks here first and says it in one
sentence. Only the platforms that need a display server are checked; a platform the user chose
explicitly (``offscreen``, ``vnc``, ``eglfs``...) is trusted, and Windows and macOS always have one.
No Qt import: this runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

# Qt's platform plugins that talk to a display server, and the variable naming it.
_SERVER_PLATFORMS = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}


def missing_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """None when the window can open; else why not, as the end of a sentence."""
    env = os.environ if environ is None else environ
    where = sys.platform if platform is None else platform
    if where.startswith(("win", "darwin")):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if chosen and not chosen.startswith(tuple(_SERVER_PLATFORMS)):
        return None  # offscreen, minimal, vnc, eglfs, linuxfb...: no display server needed
    if chosen.startswith("wayland") or (not chosen and env.get("WAYLAND_DISPLAY")):
        return None if env.get("WAYLAND_DISPLAY") else "no Wayland display (WAYLAND_DISPLAY is not set)"
    display = env.get("DISPLAY", "")
    if not display:
        return "no display (DISPLAY is not set)"
    if x_display_refuses(display):
        return f"the X display {display} cannot be reached"
    return None


def x_display_refuses(display: str) -> bool:
    """True when libxcb is there and cannot connect to ``display`` (a stale ``DISPLAY`` over
    ssh, a stopped Xvfb); False when it connects, or when libxcb is missing (Qt will say)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return False
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(xcb.xcb_connection_has_error(connection))
    finally:
        xcb.xcb_disconnect(connection)  # also frees the error object of a failed connect
