"""What a worker process builds once: settings, database, store, model and batcher,
and a small local cache of originals."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..db import make_engine, session_factory
from ..io.store import LocalStore, open_store
from ..pipeline import model_version
from ..registry import CACHE, ModelSource
from ..settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from recognition.bundle import Bundle
    from recognition.predictor import Predictor

    from .batching import MicroBatcher


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.sessions = session_factory(make_engine(self.settings.database_url))
        self.store = open_store(self.settings.store_url)
        self._lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        self.models = ModelSource(
            self.sessions, self.store, self.settings.model, self.settings.decoder, CACHE, backend=self.settings.backend
        )
        self._versions: dict[tuple[str, str], int] = {}
        self.originals = Originals()
        self.running: set[tuple[int, str, int]] = set()  # (document, stage, page) in this process's hands
        self.isolation = Isolation()  # a suspect document's work runs alone in this process
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        self._beats = 0

    @property
    def bundle(self) -> Bundle | None:
        return self.models.bundle

    @property
    def predictor(self) -> Predictor | None:
        return self.models.predictor

    def start_heartbeat(self, resend, recover=None) -> None:
        """Beat for this process's runs and sweep for dead workers' runs, every
        ``heartbeat_seconds``, in a daemon thread (once per process);
        ``resend(doc_id, stage, page)`` queues a lost run's work again. With
        ``recover``, a second daemon thread calls it every ``dead_after``
        seconds to queue again the work whose message the broker lost (it
        waits on the broker when that is away, so it never holds up a beat)."""
        with self._lock:
            if self._heartbeat is not None:
                return
            self._heartbeat = threading.Thread(target=self._beat_forever, args=(resend,), name="htr-heartbeat", daemon=True)
            self._heartbeat.start()
            if recover is not None:
                threading.Thread(target=self._recover_forever, args=(recover,), name="htr-recovery", daemon=True).start()

    def _beat_forever(self, resend) -> None:
        from .delivery import beat, sweep

        every = max(1, self.settings.heartbeat_seconds)
        while not self._stop.wait(every if self._beats else 0):
            self._beats += 1
            try:
                beat(self.sessions, self.running)
                for doc_id, stage, page in sweep(self.sessions, self.settings.dead_after):
                    resend(doc_id, stage, page)
            except Exception as exc:  # the database or broker is away: try again next beat
                log.warning("heartbeat: %s: %s", type(exc).__name__, exc)

    def _recover_forever(self, recover) -> None:
        every = max(1.0, self.settings.dead_after)
        while not self._stop.wait(every):
            try:
                recover()
            except Exception as exc:  # the database or broker is away: try again later
                log.warning("recovery: %s: %s", type(exc).__name__, exc)

    def model_version_id(self, session, bundle: Bundle) -> int:
        """A loaded model's row in model_versions (created once, then remembered)."""
        key = (bundle.name, bundle.version)
        if key not in self._versions:
            self._versions[key] = model_version(session, bundle).id
        return self._versions[key]

    def _predict(self, crops, types=None):
        predictor, _bundle = self.models.current()
        return predictor.predict(crops, types)

    def templates(self) -> list:
        """The registered form templates pages are matched to (``pipeline.templates``: kept in
        memory, loaded again when one changes)."""
        from ..pipeline.templates import load_templates

        with self.sessions() as session:
            return load_templates(session, self.store)

    def batcher(self) -> MicroBatcher:
        """Recognition for this process's tasks: one model (the promoted one, or
        the pinned ``HTR_MODEL``), looked up between pages; crops of concurrent
        tasks share a model call."""
        with self._lock:
            if self._batcher is None:
                from .batching import MicroBatcher

                self.models.current()  # load before taking work
                self._batcher = MicroBatcher(self._predict, self.settings.batch_max_lines, self.settings.batch_wait_ms / 1000.0)
            return self._batcher


class Isolation:
    """A shared / exclusive lock over this process's task threads. Work of a
    document that a worker died holding runs exclusive, alone in the process,
    so that when it kills its worker again no other document's work is in
    hand to be counted with it. An exclusive request waits for the shared
    holders to finish and goes before later shared requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # exclusive requests waiting

    @contextmanager
    def hold(self, exclusive: bool):
        with self._cond:
            if exclusive:
                self._waiting += 1
                try:
                    self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                finally:
                    self._waiting -= 1
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._waiting == 0)
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()


class Originals:
    """A few recently used originals kept on local disk, so the segment tasks
    of one document do not each download it again (keys are content hashes,
    so a cached copy never goes stale). A file some task is still reading is
    never evicted, and a download appears under its name only when complete."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="htr-originals-"))
        self.paths: OrderedDict[str, Path] = OrderedDict()
        self.in_use: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _evict(self) -> None:
        for key in [k for k in self.paths if not self.in_use[k]][: max(0, len(self.paths) - self.keep)]:
            self.paths.pop(key).unlink(missing_ok=True)

    @contextmanager
    def get(self, store, key: str):
        if isinstance(store, LocalStore):
            with store.local_copy(key) as p:
                yield p
            return
        with self.lock:
            path = self.paths.get(key)
            if path is not None:
                self.paths.move_to_end(key)
                self.in_use[key] += 1
        if path is None:
            path = self.dir / key.replace("/", "_")
            part = path.with_name(f"{path.name}.{threading.get_ident()}.part")
            with store.local_copy(key) as tmp:
                shutil.copyfile(tmp, part)
            os.replace(part, path)  # atomic: another thread may be reading the same name
            with self.lock:
                self.paths[key] = path
                self.paths.move_to_end(key)
                self.in_use[key] += 1
        try:
            yield path
        finally:
            with self.lock:
                self.in_use[key] -= 1
                self._evict()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's runtime, built on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def reset_runtime() -> None:
    """Forget this process's runtime (the next task builds it from the environment again)."""
    global _runtime
    with _runtime_lock:
        _runtime = None
