"""PyInstaller runtime hook: an empty ``PySide6.QtOpenGL`` for pyqtgraph, in the desktop build only.

pyqtgraph imports ``PySide6.QtOpenGL`` when it starts (``pyqtgraph.Qt.OpenGLHelpers``) but
touches its classes only to draw with OpenGL (``useOpenGL``, ``PColorMeshItem`` in GL mode)
and in its 3D package, none of which Position Sync uses: its charts are plain 2D plots drawn by
the raster engine. The binding is 8.9 MB, the largest single saving towards the 150 MB budget,
so the spec leaves it out and this hook answers the import with a module that has no classes.
Using one fails at once with an ``AttributeError`` that names the reason, rather than a
``ModuleNotFoundError`` at start-up. (``QtOpenGLWidgets`` and ``libQt6OpenGL`` stay: pyqtgraph
subclasses ``QOpenGLWidget`` at import time.)

Runtime hooks run before the app's own code, so the finder is in place before pyqtgraph loads.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

NAME = "PySide6.QtOpenGL"
REASON = (
    "is not in the Position Sync desktop build: PySide6.QtOpenGL was left out to keep the bundle "
    "small (packaging/position-sync.spec); pyqtgraph's OpenGL drawing is not available"
)


class _WithoutOpenGL(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        raise AttributeError(f"{NAME}.{name} {REASON}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _WithoutOpenGL(spec.name, __doc__)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module is empty on purpose."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader())


def install() -> None:
    """Answer ``import PySide6.QtOpenGL`` only when the bundle has no real one."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())


install()
