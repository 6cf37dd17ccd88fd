"""Workers: the preflight's threads, which never hold the interpreter open::

pool = DaemonPool(64)
pool.submit(task)          # runs on a daemon thread; at most 64 of them
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class DaemonPool:
    """Up to ``size`` worker threads that never hold the interpreter open.

    ``concurrent.futures`` joins its workers when the interpreter exits, so a call still hanging after
    the preflight gave up (budget spent) would keep a script that ended right after ``fit()`` alive
    for its timeouts and retries. These workers are daemons: the process ends when the program does.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.put(task)
            if self._idle == 0 and self._workers < self._size:
                self._workers += 1
                threading.Thread(target=self._work, name=f"s3ag-preflight-{self._workers}", daemon=True).start()
            else:
                self._idle = max(self._idle - 1, 0)  # that idle worker takes this task

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task()
            except BaseException:  # pragma: no cover - tasks report their own errors
                logger.debug("preflight task failed", exc_info=True)
            del task  # an idle worker holds nothing: not the session, clients or resolver of its last task
            with self._lock:
                self._idle += 1
