"""Position Sync: broker positions next to a trading system's book, every mismatch highlighted.

One import package, so that installing Position Sync beside a trading system never shadows that
system's own ``app`` or ``ui`` package. The repository keeps the folders the project was laid
out with (``app`` the core, ``brokers`` the adapters, ``ui`` the window, ``resources``); this
folder holds a symbolic link to each, so they import as ``position_sync.app``,
``position_sync.brokers``, ``position_sync.ui`` and ``position_sync.resources`` from a checkout,
an editable install, a wheel (which holds the files themselves) and the frozen build alike.
"""

# The adapters' registry hands the broker catalogue (names and defaults) to the core as it is
# imported (``app.broker.use_brokers``); importing it here makes that happen before any config
# is read, however the package is entered: the command, the window, a test or a benchmark.
from position_sync.brokers import registry as _registry  # noqa: F401
