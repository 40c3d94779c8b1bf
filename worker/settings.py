"""One settings object for every ``HTR_*`` variable, read once from the
environment (``Settings.from_env``) and passed down: the CLI, the in-process
runner, Celery workers and beat, docker-compose and the tests use the same names.

S3 endpoint and credentials are boto3's own variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``); boto3 reads them itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io.documents import Limits

DEFAULT_ROUTES = {
    "htr.start": "cpu",  # validate, count pages, fan out
    "htr.segment": "cpu",  # render + segment one page
    "htr.recognize": "gpu",  # recognize + persist one page (micro-batched)
    "htr.scan": "cpu",  # nightly: enqueue new objects under a prefix
    "htr.refresh": "train",  # nightly: fine-tune on corrections, promote through the gate
}

DECODERS = ("greedy", "beam")  # HTR_DECODER / --decoder values
BACKENDS = ("tf", "onnx", "onnx-int8")  # HTR_BACKEND / --backend values (recognition/backends.py)
PRINTED = ("skip", "read")  # HTR_PRINTED values
# The review pages' special-character keys (HTR_REVIEW_CHARS): sets by language, named or spelled out.
CHAR_SETS = {
    "fr": "é è ê ë à â ç î ï ô û ù ü ÿ œ æ É È Ê À Ç Œ « » ’ ° € £ §",
    "de": "ä ö ü ß Ä Ö Ü „ “ ‚ ‘ € §",
    "es": "á é í ó ú ñ ü ¿ ¡ Á É Í Ó Ú Ñ « » €",
    "it": "à è é ì ò ù À È É Ì Ò Ù « » €",
    "nl": "ë ï é è ĳ Ĳ ‘ ’ „ ” €",
    "en": "£ ’ “ ” — … ½ ¼ ¾ ° §",
    "old": "ſ ꝑ ꝓ ⁊ ꝰ ꝯ ꝗ ꝙ ā ē ī ō ū ȳ ñ æ œ ¶ ℔ ℥",  # abbreviation marks and long s of old hands
}
REVIEW_CHARS = tuple(dict.fromkeys((CHAR_SETS["fr"] + " — … ⁊ ꝑ").split()))


class SettingsError(ValueError):
    """A malformed ``HTR_*`` value; the message names the variable."""


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a whole number") from None


def _number(name: str, raw: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if not v > 0:
        raise SettingsError(f"{name}={raw!r}: expected a number above 0")
    return v


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        v = raw.strip().lower()
        if v not in choices:
            raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
        return v

    return parse


def _routes(name: str, raw: str) -> dict:
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(extra, dict):
        raise SettingsError(f"{name}: expected a JSON object (task name -> queue)")
    return {**DEFAULT_ROUTES, **extra}


def _text(name: str, raw: str) -> str:
    return raw


def _chars(name: str, raw: str) -> tuple[str, ...]:
    """Keys separated by spaces, each a few characters or the name of a set (``fr de old``)."""
    keys: list[str] = []
    for token in raw.split():
        if token.lower() in CHAR_SETS:
            keys += CHAR_SETS[token.lower()].split()
        elif len(token) > 4:
            raise SettingsError(f"{name}: {token!r} is neither a set ({', '.join(CHAR_SETS)}) nor a key (at most 4 characters)")
        else:
            keys.append(token)
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Settings:
    database_url: str  # HTR_DATABASE_URL (default: SQLite in ./var/htr.sqlite)
    store_url: str  # HTR_STORE_URL: file:///folder or s3://bucket/prefix (default ./var/store)
    broker_url: str = "redis://127.0.0.1:6379/0"  # HTR_BROKER_URL
    model: str | None = None  # HTR_MODEL: model folder (default: the bundled model)
    decoder: str = "beam"  # HTR_DECODER: beam (search with the bundle's character n-gram: more accurate) or greedy (faster)
    backend: str = "onnx"  # HTR_BACKEND: onnx (ONNX Runtime, no TensorFlow; reads as tf does), tf (the Keras model), onnx-int8
    max_attempts: int = 3  # HTR_MAX_ATTEMPTS: worker deaths on one document before it fails
    visibility_timeout: int = 3600  # HTR_VISIBILITY_TIMEOUT (s): the broker's own redelivery of a dead worker's message
    heartbeat_seconds: int = 10  # HTR_HEARTBEAT_SECONDS: running tasks beat this often; 4 missed beats = a dead worker
    task_retries: int = 8  # HTR_TASK_RETRIES: retries with backoff for transient errors
    batch_max_lines: int = 256  # HTR_BATCH_MAX_LINES: micro-batch size across documents
    batch_wait_ms: int = 50  # HTR_BATCH_WAIT_MS: longest a line waits for its batch to fill
    scan_url: str | None = None  # HTR_SCAN_URL: s3://bucket/prefix scanned by beat
    scan_schedule: str = "0 2 * * *"  # HTR_SCAN_SCHEDULE: cron (minute hour day month weekday)
    routes: dict = field(default_factory=lambda: dict(DEFAULT_ROUTES))  # HTR_TASK_ROUTES (JSON: task -> queue)
    printed: str = "skip"  # HTR_PRINTED: skip (leave a form's printed lines out of the transcript) or read
    limits: Limits = field(default_factory=Limits)  # HTR_MAX_FILE_MB, HTR_MAX_PAGE_PIXELS, HTR_MAX_PAGES
    data_dir: str | None = None  # HTR_DATA_DIR: training and evaluation data (default ../shared/data)
    fonts_dir: str | None = None  # HTR_FONTS_DIR: handwriting fonts for training (default .fonts/)
    finetune_min_lines: int = 64  # HTR_FINETUNE_MIN_LINES: new reviewed lines before the nightly fine-tune runs
    finetune_schedule: str = "0 3 * * *"  # HTR_FINETUNE_SCHEDULE: cron, or "off"
    finetune_seconds: int = 600  # HTR_FINETUNE_SECONDS: training time of the nightly fine-tune
    standing_limit: int = 200  # HTR_STANDING_LIMIT: crops of each standing validation set a fine-tune and the gate measure
    review_chars: tuple[str, ...] = REVIEW_CHARS  # HTR_REVIEW_CHARS: the review pages' special-character keys, space-separated
    review_reread: str = "on"  # HTR_REVIEW_REREAD: on (the web app reads merged, split and drawn lines with the model) or off
    given: frozenset[str] = frozenset()  # the variables that were set (a command's own default yields to them)

    @property
    def skip_printed(self) -> bool:
        return self.printed == "skip"

    @property
    def dead_after(self) -> float:
        """Seconds of silence after which a running task's worker counts as dead."""
        return 4.0 * self.heartbeat_seconds

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every environment variable read, with the field (or limit) it sets."""
        return {name: target for name, (target, _parse) in _VARIABLES.items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``env`` (default: the process environment). A
        malformed value raises :class:`SettingsError` naming the variable."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{Path('var/htr.sqlite').resolve()}",
            "store_url": "file://" + str(Path("var/store").resolve()),
        }
        limits: dict[str, Any] = {}
        given = set()
        for name, (target, parse) in _VARIABLES.items():
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            given.add(name)
            value = parse(name, raw)
            if target.startswith("limits."):
                limits[target[len("limits.") :]] = value
            else:
                values[target] = value
        if "max_bytes" in limits:
            limits["max_bytes"] = int(limits["max_bytes"] * 2**20)
        values["limits"] = Limits(**limits)
        return cls(**values, given=frozenset(given))


_VARIABLES: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "HTR_DATABASE_URL": ("database_url", _text),
    "HTR_STORE_URL": ("store_url", _text),
    "HTR_BROKER_URL": ("broker_url", _text),
    "HTR_MODEL": ("model", _text),
    "HTR_DECODER": ("decoder", _choice(DECODERS)),
    "HTR_BACKEND": ("backend", _choice(BACKENDS)),
    "HTR_MAX_ATTEMPTS": ("max_attempts", _whole),
    "HTR_VISIBILITY_TIMEOUT": ("visibility_timeout", _whole),
    "HTR_TASK_RETRIES": ("task_retries", _whole),
    "HTR_HEARTBEAT_SECONDS": ("heartbeat_seconds", _whole),
    "HTR_BATCH_MAX_LINES": ("batch_max_lines", _whole),
    "HTR_BATCH_WAIT_MS": ("batch_wait_ms", _whole),
    "HTR_SCAN_URL": ("scan_url", _text),
    "HTR_SCAN_SCHEDULE": ("scan_schedule", _text),
    "HTR_TASK_ROUTES": ("routes", _routes),
    "HTR_PRINTED": ("printed", _choice(PRINTED)),
    "HTR_MAX_FILE_MB": ("limits.max_bytes", _number),
    "HTR_MAX_PAGE_PIXELS": ("limits.max_pixels", _whole),
    "HTR_MAX_PAGES": ("limits.max_pages", _whole),
    "HTR_DATA_DIR": ("data_dir", _text),
    "HTR_FONTS_DIR": ("fonts_dir", _text),
    "HTR_FINETUNE_MIN_LINES": ("finetune_min_lines", _whole),
    "HTR_FINETUNE_SCHEDULE": ("finetune_schedule", _text),
    "HTR_FINETUNE_SECONDS": ("finetune_seconds", _whole),
    "HTR_STANDING_LIMIT": ("standing_limit", _whole),
    "HTR_REVIEW_CHARS": ("review_chars", _chars),
    "HTR_REVIEW_REREAD": ("review_reread", _choice(("on", "off"))),
}
