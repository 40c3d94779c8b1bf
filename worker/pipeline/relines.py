"""Lines read again after a person changed them on the page (merged, split, drawn): each line
is cut from the stored page image by its box, read by the model, and its text, words (with
boxes on the page), confidence and keyword index replaced. Lines a person read (reviewed, or
holding a word a person corrected: half of a merge with a reviewed line) keep their text and
are not read again. The caller commits."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from ..db import Line, Page, Word, WordCandidate
from ..db.models import word_span
from ..io.store import Store, stored_gray

MARGIN = 4  # px of page around a line box, as line crops are cut


def box_crop(image: np.ndarray, line: Line) -> tuple[np.ndarray, int]:
    """The line's box cut from its page image with :data:`MARGIN` around it, and the crop's left edge on the page."""
    x0 = max(0, line.x0 - MARGIN)
    return image[max(0, line.y0 - MARGIN) : line.y1 + MARGIN, x0 : line.x1 + MARGIN], x0


def reread_lines(session: Session, store: Store, predict, lines: list[Line]) -> int:
    """Read the unreviewed ``lines`` (of one page) again with ``predict`` (crops → readings with
    words and their alternatives). Returns how many were read."""
    todo = [ln for ln in lines if ln.reviewed_at is None and all(w.corrected_text is None for w in ln.words)]
    if not todo:
        return 0
    page = session.get(Page, todo[0].page_id)
    image = stored_gray(store, page.image_key if page else None)
    if image is None:
        return 0
    crops, offsets = [], []
    for ln in todo:
        crop, x0 = box_crop(image, ln)
        crops.append(crop)
        offsets.append(x0)
    for ln, rec, off in zip(todo, predict(crops), offsets):
        words = []
        cands: list[WordCandidate] = []
        for wi, w in enumerate(rec.words):
            a, z = word_span(int(off + w.x0), int(off + w.x1), ln.x0, ln.x1, ln.y1 - ln.y0)
            words.append(Word(index=wi, x0=a, y0=ln.y0, x1=z, y1=ln.y1, text=w.text, confidence=float(w.confidence)))
            cands += WordCandidate.of_word(wi, [(alt.text, alt.probability) for alt in w.alternatives], (a, ln.y0, z, ln.y1))
        ln.words.clear()
        ln.candidates.clear()
        session.flush()
        ln.words.extend(words)
        ln.candidates.extend(cands)
        ln.text, ln.confidence = rec.text, float(rec.confidence)
    session.flush()
    return len(todo)
