"""Plain-Python loops compiled with numba on first use (the tracker's Viterbi, the alignment's DTW).

numba comes with librosa. It is imported, and a function compiled, when the function is first
called, never when the library is imported (no import-time disk access). numba caches the machine
code on disk, next to the source file or in the user's cache folder (about 1 s per function the
first time, a few tenths of a second to load in a new process); where no location is writable it
compiles without a cache. The functions release the GIL (``nogil``), so threads run them side by
side.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

log = logging.getLogger(__name__)

_LOCK = threading.Lock()


class Compiled:
    """``fn`` compiled by numba on the first call; calls go to the compiled function."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.compiled: Callable | None = None

    def __call__(self, *args):
        fn = self.compiled if self.compiled is not None else self._compile()
        return fn(*args)

    def _compile(self) -> Callable:
        with _LOCK:
            if self.compiled is None:
                import numba

                try:
                    self.compiled = numba.njit(cache=True, nogil=True)(self.fn)
                except RuntimeError:  # "cannot cache function ...: no locator available"
                    log.info("no writable numba cache location: %s is compiled in every process", self.fn.__name__)
                    self.compiled = numba.njit(nogil=True)(self.fn)
            return self.compiled


def _after_fork_in_child() -> None:
    """A lock held by another thread at fork time would never be released in the child."""
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
