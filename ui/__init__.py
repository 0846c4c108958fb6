"""The PySide6 window on top of the core (``app``) and the broker adapters (``brokers``).

numpy arrives with pyqtgraph; its OpenBLAS starts one busy-waiting thread per core, which on a
trader's laptop competes with the UI thread for nothing: the charts do no linear algebra. One
thread is set here, before anything in ``ui`` can import numpy, unless the user chose otherwise.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
