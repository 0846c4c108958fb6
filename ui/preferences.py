"""The window's own settings from the config's ``[ui]`` table (the core ignores that table).

``close_to_tray`` (default true), ``notify`` (the event kinds that raise a notification) and
``theme`` (``system``, ``light`` or ``dark``: offscreen, Xvfb and some desktops report no colour
scheme at all, so the user can say it).
A bad value falls back to the default with a warning: the core already accepted the file, and a
cosmetic choice must not keep the trader from seeing positions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from position_sync.app.config import Settings
from position_sync.app.domain import EventKind
from position_sync.app.notify_policy import DEFAULT_KINDS

log = logging.getLogger(__name__)
THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class Preferences:
    close_to_tray: bool = True
    notify: frozenset[EventKind] = field(default_factory=lambda: DEFAULT_KINDS)
    theme: str = "system"

    def to_toml(self) -> dict[str, Any]:
        return {
            "close_to_tray": self.close_to_tray,
            "notify": sorted(k.value for k in self.notify),
            "theme": self.theme,
        }


def preferences(settings: Settings) -> Preferences:
    raw = settings.options.get("ui", {})
    if not isinstance(raw, dict):
        log.warning("%s: [ui] must be a table; using the defaults", settings.path)
        return Preferences()
    close = raw.get("close_to_tray", True)
    if not isinstance(close, bool):
        log.warning("%s: ui.close_to_tray must be true or false; using true", settings.path)
        close = True
    kinds = DEFAULT_KINDS
    if "notify" in raw:
        try:
            kinds = frozenset(EventKind(k) for k in raw["notify"])
        except (TypeError, ValueError):
            log.warning("%s: ui.notify must list event kinds; using the defaults", settings.path)
    theme = raw.get("theme", "system")
    if theme not in THEMES:
        log.warning("%s: ui.theme must be one of %s; following the system", settings.path, ", ".join(THEMES))
        theme = "system"
    return Preferences(close, kinds, theme)
