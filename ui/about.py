"""Help → About Position Sync: the version, and where this run keeps its config and its data.

"Which version is this and where is my database?" is the first question of every support
exchange, and the answer differs between a normal start, ``--demo`` (a throw-away directory)
and ``--data-dir``/``--config``. So the dialog shows the paths of *this* run, selectable, with
a button that copies them as plain text; and the log file's, since "what does the log say?"
is the second question, and a window started from the menu has no terminal to read.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from position_sync.app.config import default_config_path, default_data_dir
from position_sync.app.log_file import active_log_file, describe_log_file
from position_sync.app.paths import is_frozen
from position_sync.app.runtime import Runtime
from position_sync.app.store.repository import DB_NAME
from position_sync.app.version import version
from position_sync.ui.plain_text import plain_label
from position_sync.ui.resources import icon

DESCRIPTION = "Broker positions next to your trading system's book, every mismatch highlighted."


@dataclass(frozen=True)
class AboutInfo:
    version: str
    config_path: Path | None
    data_dir: Path
    store: str
    # Where the log goes: the file this process writes (``app.log_file``), or standard error.
    logs: str = field(default_factory=lambda: describe_log_file(active_log_file()))
    demo: bool = False

    @classmethod
    def for_runtime(cls, runtime: Runtime, *, demo: bool = False) -> AboutInfo:
        """What this run really uses: the settings' file, the data dir, the store's URL."""
        return cls(
            version=version(),
            config_path=runtime.settings.path,
            data_dir=runtime.data_dir,
            store=store_location(runtime.store.url),
            demo=demo,
        )

    @classmethod
    def defaults(cls) -> AboutInfo:
        """The platform defaults (honouring the env variables), for a window built without a run."""
        data_dir = default_data_dir()
        return cls(version(), default_config_path(), data_dir, str(data_dir / DB_NAME))

    def as_text(self) -> str:
        """Plain text for the clipboard: what a support request needs, and no secret."""
        lines = [
            f"Position Sync {self.version}{' (demo)' if self.demo else ''}",
            f"Build: {build_kind()}",
            f"Config: {self.config_path or 'none'}",
            f"Data directory: {self.data_dir}",
            f"Store: {self.store}",
            f"Logs: {self.logs}",
        ]
        return "\n".join(lines)


def store_location(url: str) -> str:
    """A SQLite file as its path; any other store as its URL with the password masked."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def build_kind() -> str:
    python = f"Python {sys.version.split()[0]}"
    return f"desktop bundle ({python})" if is_frozen() else f"{python} at {sys.executable}"


class AboutDialog(QDialog):
    def __init__(self, info: AboutInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle("About Position Sync")
        self.setObjectName("aboutDialog")

        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(
            f"<h2 style='margin:0'>Position Sync</h2>"
            f"<p>Version {html.escape(info.version)}{' — demo' if info.demo else ''}</p>"
            f"<p>{html.escape(DESCRIPTION)}<br>Read-only towards brokers: it never trades.</p>"
        )
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(logo)
        head.addWidget(title, 1)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for key, label, value in (
            ("config", "Config file", str(info.config_path) if info.config_path else "none"),
            ("data_dir", "Data directory", str(info.data_dir)),
            ("store", "Store", info.store),
            ("logs", "Log file", info.logs),
            ("build", "Build", build_kind()),
        ):
            field = plain_label(value)  # paths and URLs, shown as they are
            field.setObjectName(f"about_{key}")
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{label}:", field)
            self.fields[key] = field

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setToolTip("Copy the version and these paths, for a support request")
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.info.as_text())
