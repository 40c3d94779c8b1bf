"""The promotion gate: a candidate measured against the live model.

It measures both on the standing validation sets (greedy CER, the first
``training.evaluate.STANDING_LIMIT`` crops of each set this machine has) and reads the
candidate's own held-out new lines from its fine-tuning report: it fails when the candidate is
worse than the live model by more than ``GATE_TOLERANCE`` on any standing set, or not better
on its held-out lines, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..db import ModelVersion

GATE_TOLERANCE = 0.005  # CER: 0.5 points


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    standing: dict = field(default_factory=dict)  # spec -> {"live": cer, "candidate": cer}
    heldout: dict = field(default_factory=dict)  # {"before": cer, "after": cer, "lines": n}

    def to_json(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "standing": self.standing, "heldout": self.heldout}


def gate(
    candidate_dir: Path, live_dir: Path, candidate: ModelVersion, live_label: str, data_root=None, limit: int | None = None
) -> GateResult:
    """Measure a candidate against the live model (see the module's rules) on the first ``limit``
    crops of each standing set (default ``training.evaluate.STANDING_LIMIT``)."""
    from training.evaluate import STANDING, STANDING_LIMIT, standing_cer

    result = GateResult(True)
    report = (candidate.metrics or {}).get("finetune") or {}
    before, after = report.get("heldout_cer_before"), report.get("heldout_cer_after")
    result.heldout = {"before": before, "after": after, "lines": report.get("heldout_lines")}
    if before is None or after is None:
        result.reasons.append("no held-out new lines measured (fine-tune with htr finetune)")
    elif not after < before:
        result.reasons.append(f"not better on its held-out new lines: CER {after:.4f} vs {before:.4f} before")
    if candidate.parent and candidate.parent != live_label:
        result.reasons.append(f"fine-tuned from {candidate.parent}, not from the live model {live_label}")
    cand = standing_cer(candidate_dir, STANDING, data_root, limit or STANDING_LIMIT)
    base = standing_cer(live_dir, STANDING, data_root, limit or STANDING_LIMIT)
    if not cand:
        result.reasons.append("no standing validation set on this machine to measure it on")
    for spec in cand:
        result.standing[spec] = {"live": base.get(spec), "candidate": cand[spec]}
        if base.get(spec) is not None and cand[spec] > base[spec] + GATE_TOLERANCE:
            result.reasons.append(f"worse on {spec}: CER {cand[spec]:.4f} vs {base[spec]:.4f} live (tolerance {GATE_TOLERANCE})")
    result.passed = not result.reasons
    return result
