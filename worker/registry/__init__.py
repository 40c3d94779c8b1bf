"""The model registry, one module per job: the store of versions (``versions``), the promotion
gate (``gate``), promotion and rollback (``promotion``), fine-tuning a candidate from
corrections or confident readings (``candidates``, the one fine-tune path of ``htr finetune``
and the nightly refresh, ``refresh``), and the model documents are read with (``source``)."""

from .gate import GATE_TOLERANCE, GateResult, gate
from .promotion import promote, rollback
from .source import ModelSource
from .versions import BUNDLE_FILES, CACHE, RegistryError, default_model, fetch, find, label, listing, live, register

__all__ = [
    "BUNDLE_FILES",
    "CACHE",
    "GATE_TOLERANCE",
    "GateResult",
    "ModelSource",
    "RegistryError",
    "default_model",
    "fetch",
    "find",
    "gate",
    "label",
    "listing",
    "live",
    "promote",
    "register",
    "rollback",
]
