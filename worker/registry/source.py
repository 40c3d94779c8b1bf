"""The model documents are read with, looked up between pages."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from .versions import fetch, live

log = logging.getLogger(__name__)


class ModelSource:
    """The model documents are read with: pinned (``--model``, ``HTR_MODEL``),
    or the promoted one, looked up between pages (at most every ``every``
    seconds) and loaded when it changes, without a restart; its network run by
    ``backend`` (``HTR_BACKEND``)."""

    def __init__(
        self,
        sessions: sessionmaker,
        store,
        pinned: str | None,
        decoder: str,
        cache: Path,
        every: float = 2.0,
        backend: str = "tf",
    ):
        self.sessions, self.store, self.pinned, self.decoder, self.cache, self.every = (
            sessions,
            store,
            pinned,
            decoder,
            cache,
            every,
        )
        self.backend = backend  # what runs the network (recognition/backends.py): tf builds the Keras model
        self._lock = threading.Lock()
        self._checked = 0.0
        self._live_id: int | None = -1
        self.bundle = None
        self.predictor = None

    def _load(self, path: str | Path | None):
        from recognition.bundle import load_bundle
        from recognition.predictor import DecoderOptions, Predictor

        bundle = load_bundle(path, build=self.backend == "tf")
        predictor = Predictor.from_bundle(bundle, backend=self.backend, decoder=DecoderOptions(name=self.decoder), keywords=True)
        return bundle, predictor

    def current(self):
        """(predictor, bundle) to read the next page with."""
        with self._lock:
            if self.pinned is not None:
                if self.bundle is None:
                    self.bundle, self.predictor = self._load(self.pinned)
                return self.predictor, self.bundle
            now = time.monotonic()
            if self.bundle is None or now - self._checked >= self.every:
                self._checked = now
                with self.sessions() as s:
                    mv = live(s)
                    live_id = mv.id if mv is not None else None
                    if live_id != self._live_id:
                        path = fetch(self.store, mv, self.cache) if mv is not None else None
                        self.bundle, self.predictor = self._load(path)
                        if self._live_id != -1:
                            log.info("model switched to %s %s", self.bundle.name, self.bundle.version)
                        self._live_id = live_id
            return self.predictor, self.bundle
