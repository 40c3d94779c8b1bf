"""Micro-batching: recognition requests from concurrent tasks share one model call.

A recognizing worker runs several tasks at once (a thread pool); each hands
its page's line crops to :class:`MicroBatcher` and blocks. The batcher waits
at most ``max_wait`` seconds after the first request for others to arrive, or
until ``max_items`` crops are waiting, then runs the predictor once on all of
them and hands every caller its own results. One page alone is delayed by at
most ``max_wait``; many pages from several documents fill the accelerator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class _Request:
    items: Sequence
    types: Sequence | None = None  # a form field's type per item (None: lines)
    done: threading.Event = field(default_factory=threading.Event)
    result: list | None = None
    error: BaseException | None = None


class MicroBatcher:
    def __init__(self, predict: Callable[..., list], max_items: int = 256, max_wait: float = 0.05):
        self.predict = predict
        self.max_items = max(1, max_items)
        self.max_wait = max(0.0, max_wait)
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._thread: threading.Thread | None = None
        self.calls = 0  # model calls made (for tests and benchmarks)
        self.items = 0  # crops recognized

    def submit(self, items: Sequence, types: Sequence | None = None) -> list:
        """Recognize ``items`` (with ``types``: each a form field's type, or None for a line);
        blocks until its batch has run."""
        if not items:
            return []
        req = _Request(items, types)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="htr-batcher", daemon=True)
                self._thread.start()
            self._queue.append(req)
            self._cond.notify_all()
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def _take(self) -> list[_Request]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            deadline = time.monotonic() + self.max_wait
            while sum(len(r.items) for r in self._queue) < self.max_items:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            taken: list[_Request] = []
            n = 0
            while self._queue and (not taken or n + len(self._queue[0].items) <= self.max_items):
                r = self._queue.pop(0)
                taken.append(r)
                n += len(r.items)
            return taken

    def _run(self) -> None:
        while True:
            batch = self._take()
            flat = [x for r in batch for x in r.items]
            try:
                if any(r.types is not None for r in batch):
                    out = self.predict(flat, [t for r in batch for t in (r.types or [None] * len(r.items))])
                else:
                    out = self.predict(flat)
                self.calls += 1
                self.items += len(flat)
                k = 0
                for r in batch:
                    r.result = out[k : k + len(r.items)]
                    k += len(r.items)
            except BaseException as exc:  # every waiter learns of it
                for r in batch:
                    r.error = exc
            for r in batch:
                r.done.set()
