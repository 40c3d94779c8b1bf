"""Batch predictor: crops in, text with calibrated confidences out.

Crops are preprocessed, sorted by width and cut into batches under a pixel
budget (so a batch of short words can be large and a batch of long lines
small), padded only to the widest crop in their batch, run through the
network by a backend (``backends.py``: the Keras model, or ONNX Runtime), and
decoded. Results come back in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import Backend, KerasBackend, open_backend
from .bundle import Bundle, load_bundle
from .calibration import Calibrator, raw_word_score
from .charset import Charset
from .decoding import Decoded, beam_decode, constrained_decode, greedy_decode, softmax
from .field_types import FieldType
from .keywords import Alternative, LexiconMatcher, lexicon_queries, line_alternatives
from .lm import CharNgramLM, Lexicon
from .preprocess import Normalized, PreprocessConfig, normalize

if TYPE_CHECKING:
    from pathlib import Path

    import keras


@dataclass
class WordReading:
    text: str
    confidence: float
    x0: float  # span in input-crop pixels
    x1: float
    alternatives: list[Alternative] = field(default_factory=list)  # probable spellings (with ``keywords``)


@dataclass
class Recognition:
    text: str
    confidence: float
    char_probs: list[float]
    words: list[WordReading] = field(default_factory=list)
    valid: bool = True  # False: a typed field's reading that fits no value of its kind (flagged)


@dataclass
class DecoderOptions:
    name: str = "greedy"  # greedy | beam
    beam_width: int = 12
    lm_weight: float = 0.4  # chosen on the validation sets of real pages, IAM-OnDB, Washington and form-names
    insertion_bonus: float = 0.6
    use_lm: bool = True
    use_lexicon: bool = False


class Predictor:
    def __init__(
        self,
        model: keras.Model | Backend,  # a Keras model, or a Backend (backends.py)
        charset: Charset,
        preprocess: PreprocessConfig,
        stride: int,
        calibration: Calibrator | None = None,
        lm: CharNgramLM | None = None,
        lexicon: Lexicon | None = None,
        decoder: DecoderOptions | None = None,
        batch_size: int = 64,
        pixel_budget: int = 48 * 2048 * 16,
        width_quantum: int = 32,  # batches padded to a multiple of this (fewer shapes to compile under JAX)
        keywords: bool = False,  # also give each word its probable spellings (the search index)
    ):
        self.backend: Backend = model if isinstance(model, Backend) else KerasBackend(model)
        self.model = self.backend.model if isinstance(self.backend, KerasBackend) else None  # the Keras model, if any
        self.charset = charset
        self.pre = preprocess
        self.stride = stride
        self.calibration = calibration or Calibrator.identity()
        self.lm = lm
        self.lexicon = lexicon
        self.decoder = decoder or DecoderOptions()
        self.batch_size = batch_size
        self.pixel_budget = pixel_budget
        self.width_quantum = width_quantum
        self.keywords = keywords
        # Lexicon words near unsure readings join their spellings (built once: ~20,000 words sorted).
        self.keyword_lexicon = LexiconMatcher(lexicon.words, lm) if keywords and lexicon is not None else None

    @classmethod
    def from_bundle(cls, bundle: Bundle, backend: str | Backend = "tf", **kwargs: Any) -> Predictor:
        """A predictor on ``bundle``, its network run by ``backend``: a name from
        ``backends.BACKENDS`` or a Backend."""
        decoder = kwargs.get("decoder") or DecoderOptions()
        return cls(
            backend if isinstance(backend, Backend) else open_backend(bundle, backend),
            bundle.charset,
            bundle.preprocess,
            bundle.model_config.width_stride,
            calibration=bundle.calibration_for(decoder.name),
            lm=bundle.lm,
            lexicon=bundle.lexicon,
            **kwargs,
        )

    @classmethod
    def load(cls, path: str | Path | None = None, backend: str = "tf", **kwargs: Any) -> Predictor:
        """The bundle in ``path`` (default: the bundled model), run by ``backend``; Keras is
        imported only for ``tf``, the n-gram model and lexicon read only for beam search or
        the keyword index."""
        decoder = kwargs.get("decoder") or DecoderOptions()
        language = decoder.name != "greedy" or bool(kwargs.get("keywords"))
        return cls.from_bundle(load_bundle(path, build=backend == "tf", language=language), backend=backend, **kwargs)

    # ------------------------------------------------------------------
    def batches(self, widths: list[int]) -> list[list[int]]:
        """Indices grouped into batches of similar width under the budget."""
        order = sorted(range(len(widths)), key=lambda i: widths[i])
        out: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            w = widths[i]
            if cur and (len(cur) >= self.batch_size or (len(cur) + 1) * w * self.pre.height > self.pixel_budget):
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def probabilities(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Normalized crops -> per-sample (frames, classes) probabilities."""
        result: list[np.ndarray | None] = [None] * len(arrays)
        widths = [a.shape[1] for a in arrays]
        for idx in self.batches(widths):
            w = max(widths[i] for i in idx)
            w = int(np.ceil(w / self.width_quantum) * self.width_quantum)
            x = np.zeros((len(idx), self.pre.height, w, 1), np.float32)
            for j, i in enumerate(idx):
                x[j, :, : widths[i], 0] = arrays[i]
            probs = softmax(self.backend.logits(x).astype(np.float32, copy=False))
            for j, i in enumerate(idx):
                frames = (widths[i] + self.stride - 1) // self.stride
                result[i] = probs[j, :frames]
        return result  # type: ignore[return-value]

    def decode(self, probs: np.ndarray) -> Decoded:
        d = self.decoder
        if d.name == "greedy":
            return greedy_decode(probs, self.charset)
        if d.name == "beam":
            return beam_decode(
                probs,
                self.charset,
                beam_width=d.beam_width,
                lm=self.lm if d.use_lm else None,
                lm_weight=d.lm_weight,
                insertion_bonus=d.insertion_bonus if d.use_lm and self.lm is not None else 0.0,
                lexicon=self.lexicon if d.use_lexicon else None,
            )
        raise ValueError(f"unknown decoder {d.name!r} (greedy or beam)")

    def _result(self, decoded: Decoded, norm: Normalized, frame_probs: np.ndarray | None = None) -> Recognition:
        words: list[WordReading] = []
        bounds: list[tuple[int, int]] = []  # characters of each word
        start = 0
        text = decoded.text
        frames = frame_probs if self.keywords else None
        for pos in range(len(text) + 1):
            if pos == len(text) or text[pos] == " ":
                if pos > start:
                    bounds.append((start, pos))
                    probs = decoded.char_probs[start:pos]
                    f0 = decoded.char_frames[start][0]
                    f1 = decoded.char_frames[pos - 1][1]
                    words.append(
                        WordReading(
                            text[start:pos],
                            float(self.calibration(raw_word_score(probs))),
                            max(0.0, norm.to_input_x(f0 * self.stride)),
                            max(0.0, norm.to_input_x((f1 + 1) * self.stride)),
                        )
                    )
                start = pos + 1
        if frames is not None:
            for w, alts in zip(words, line_alternatives(frames, decoded, self.charset, bounds, self.keyword_lexicon)):
                w.alternatives = alts
        if words:
            lengths = np.array([len(w.text) for w in words], np.float64)
            conf = float(np.dot(lengths, [w.confidence for w in words]) / lengths.sum())
        else:
            conf = 0.0
        return Recognition(text.strip(), conf, decoded.char_probs, words)

    def predict_normalized(self, arrays: list[np.ndarray]) -> list[Recognition]:
        """Already-normalized crops (e.g. training validation sets)."""
        probs = self.probabilities(arrays)
        return [self._result(self.decode(p), Normalized(a, 0, 1.0, 0)) for p, a in zip(probs, arrays)]

    def decode_field(self, probs: np.ndarray, ftype: FieldType) -> tuple[Decoded, bool]:
        """A typed field's reading held to its kind's grammar or vocabulary, and whether one
        fits; when none does, the free reading, flagged (False)."""
        constraint = ftype.constraint
        if constraint is None:
            return self.decode(probs), True
        d = self.decoder
        lm = self.lm if ftype.uses_lm and d.use_lm else None
        bonus = d.insertion_bonus if lm is not None else 0.0
        fit = constrained_decode(probs, self.charset, constraint, d.beam_width, lm, d.lm_weight, bonus)
        return (fit, True) if fit is not None else (self.decode(probs), False)

    def predict(self, images: list[np.ndarray], types: Sequence[FieldType | None] | None = None) -> list[Recognition]:
        """Raw crops (any polarity, gray or colour) -> recognitions in input order. ``types``:
        a form field's type per crop (None: a line), each read as its kind allows."""
        norms = [normalize(im, self.pre) for im in images]
        probs = self.probabilities([n.image for n in norms])
        kinds = types or [None] * len(probs)
        decoded, valid = [], []
        for p, ftype in zip(probs, kinds):
            dec, ok = self.decode_field(p, ftype) if ftype is not None else (self.decode(p), True)
            decoded.append(dec)
            valid.append(ok)
        if self.keywords and self.keyword_lexicon is not None:  # one pass over the lexicon for all crops
            self.keyword_lexicon.prefetch([q for d in decoded for q in lexicon_queries(d)])
        out = [self._result(d, n, p) for d, p, n in zip(decoded, probs, norms)]
        for r, ok in zip(out, valid):
            r.valid = ok
        return out
