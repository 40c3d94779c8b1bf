"""Text normalization: the one definition of how a transcription is written.

Training labels, evaluation references and hypotheses, the lexicon and the
keyword index all pass through :func:`normalize_text`:

- Unicode NFC (``e`` + combining acute is ``é``);
- typographic variants a pen does not tell apart are folded to one form:
  ``’ ‘ ‚ ′`` → ``'``, ``“ ” „ ″`` → ``"``, ``– — ‒ −`` → ``-``, ``…`` → ``...``,
  no-break and other spaces → a space;
- runs of white space collapse to one space, ends stripped.

:func:`fold_accents` strips diacritics (``é`` → ``e``, ``œ`` → ``oe``) for the
accent-blind error rate reported beside the plain one; :func:`normalize_term` is the form
words are indexed and searched by.
"""

from __future__ import annotations

import re
import unicodedata

TYPOGRAPHIC = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u2032": "'",
    "\u02bc": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\t": " ",
}
_TABLE = str.maketrans(TYPOGRAPHIC)
_WORD_BREAK = re.compile(r"[^\w]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})


def normalize_text(text: str) -> str:
    """NFC, typographic variants folded, white space collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).translate(_TABLE).split())


def normalize_term(text: str) -> str:
    """The form words are indexed and searched by: lower case, accents folded (``Été`` finds
    ``ete``, ``été`` and ``Ete``), letters and digits only."""
    return "".join(ch for ch in fold_accents(text.lower()) if ch.isalnum())


def search_form(value: str) -> str:
    """A field's value as fields are searched by: its words, split at spaces and punctuation
    (``12/03/1921`` is ``12 03 1921``, ``JEAN-PIERRE`` is ``jean pierre``), as
    :func:`normalize_term` gives them."""
    return " ".join(t for t in (normalize_term(w) for w in _WORD_BREAK.split(value)) if t)


def fold_accents(text: str) -> str:
    """``Élève œuvre`` → ``Eleve oeuvre``: letters without their diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
