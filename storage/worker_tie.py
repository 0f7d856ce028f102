"""Imported by server.py before anything heavy. A worker that uvicorn's supervisor spawns runs
server.py as `__mp_main__` first thing; it asks here, at once, to die with the supervisor.
Asked only once the app was built (as before), a SIGKILL of the supervisor while a worker was
still importing left that worker running."""

from __future__ import annotations

import os
import sys

from storage.processes import die_with_parent

if "__mp_main__" in sys.modules:
    die_with_parent(os.getppid())
