"""Typed form fields: what each kind of field may hold, and its value in normal form.

A form's field has a kind (:data:`KINDS`). Reading a field is constrained to its
kind: the beam search (``decoding.constrained_decode``) only grows prefixes its
:class:`Grammar` or :class:`Vocabulary` allows, so a date field reads as a date
or not at all. A reading that does not fit its kind is *flagged* (``valid``
False, sent to review), never forced into shape; :func:`parse` gives a fitting
value's normal form (``normalized``: an ISO date, digits, a decimal amount, the
vocabulary's own spelling, a name in capitals).

- ``text``: anything (the document's decoder, n-gram included);
- ``name``: a name written in capitals: letters (accented too), spaces, ``-`` and ``'``;
- ``date``: day (1-31), month and year (1000-2099, or two digits) as digits with one separator (``12/03/1921``, ``12.3.21``,
  ``12-03-1921``, ``12 03 1921``), eight digits (``12031921``, as written in a date's boxes) or
  with the month in words (``12 mars 1921``, ``3 May 1905``); day first unless the field
  says ``order: mdy``; a two-digit year is in the field's ``century`` (19: ``21`` → 1921);
- ``number``: digits, thousands optionally grouped by a space, ``.`` or ``,``;
- ``amount``: digits with up to two decimals after ``,`` or ``.``, a currency sign allowed;
- ``choice``: one entry of the field's vocabulary (case and accents as the vocabulary has them);
- ``checkbox``: ticked or not, from the ink inside the box (``segmentation.forms``), no reading.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import regex

from .text import fold_accents, normalize_text, search_form

KINDS = ("text", "name", "date", "number", "amount", "choice", "checkbox")

MONTHS = {
    **{
        m: i + 1
        for i, m in enumerate("janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split())
    },
    **{
        m: i + 1
        for i, m in enumerate("january february march april may june july august september october november december".split())
    },
}
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"  # a day, or a month (month first where the order is mdy)
_YEAR = r"(?:1\d{3}|20\d{2})"  # four digits: years 1000-2099
_MONTH_WORDS = "|".join(sorted({*MONTHS, *(fold_accents(m) for m in MONTHS)}, key=len, reverse=True))

_CAPITAL = "A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ"
GRAMMARS = {
    "name": rf"[{_CAPITAL}](?:[{_CAPITAL}'\-]| (?=[{_CAPITAL}]))*",
    "date": rf"{_DAY}(?:([/.\- ]){_DAY}\1|[/.\- ]?(?i:{_MONTH_WORDS})[/.\- ]?)(?:{_YEAR}|\d{{2}})|(?:0[1-9]|[12]\d|3[01]){{2}}{_YEAR}",
    "number": r"\d{1,3}(?:[ .,]\d{3})+|\d+",
    "amount": r"[€£$]? ?(?:\d{1,3}(?:[ .]\d{3})+|\d+)(?:[.,]\d{1,2})?(?: ?(?:€|£|\$|F|fr|frs))?",
}


class Constraint(Protocol):
    """What a beam search may write: ``allows(prefix, ch)``, may ``prefix`` grow by ``ch``;
    ``complete(text)``, is ``text`` a whole value. ``recognition.lm.Lexicon`` is one too."""

    def allows(self, prefix: str, ch: str) -> bool: ...

    def complete(self, text: str) -> bool: ...


class Grammar:
    """A regular grammar (a regular expression, matched whole): a prefix is allowed while some
    completion of it still matches."""

    def __init__(self, pattern: str):
        self.pattern = regex.compile(pattern)
        self._partial = functools.lru_cache(maxsize=65536)(self._fits_partially)

    def _fits_partially(self, text: str) -> bool:
        return self.pattern.fullmatch(text, partial=True) is not None

    def allows(self, prefix: str, ch: str) -> bool:
        return bool(self._partial(prefix + ch))

    def complete(self, text: str) -> bool:
        return self.pattern.fullmatch(text) is not None


def _key(text: str) -> str:
    return fold_accents(normalize_text(text)).casefold()


class Vocabulary:
    """One entry of a list, whole; case and accents are not told apart while reading."""

    def __init__(self, entries: Iterable[str]):
        self.entries = {_key(e): normalize_text(e) for e in entries if normalize_text(e)}
        self.prefixes = {k[:i] for k in self.entries for i in range(len(k) + 1)}

    def allows(self, prefix: str, ch: str) -> bool:
        return _key(prefix + ch) in self.prefixes if not ch.isspace() or prefix else False

    def complete(self, text: str) -> bool:
        return _key(text) in self.entries

    def entry(self, text: str) -> str | None:
        return self.entries.get(_key(text))


@dataclass(frozen=True)
class FieldType:
    """A field's kind and what it needs: ``vocabulary`` (``choice``), ``order`` of a date's day
    and month (``dmy`` or ``mdy``), ``century`` of two-digit years."""

    kind: str = "text"
    vocabulary: tuple[str, ...] = ()
    order: str = "dmy"
    century: int = 19
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}: one of {', '.join(KINDS)}")
        if self.kind == "choice" and not self.vocabulary:
            raise ValueError("a choice field needs a vocabulary (its entries)")
        if self.order not in ("dmy", "mdy"):
            raise ValueError(f"date order {self.order!r}: dmy or mdy")

    @property
    def constraint(self) -> Constraint | None:
        """What reading this field is held to (None: free text)."""
        if "c" not in self._cache:
            if self.kind == "choice":
                self._cache["c"] = Vocabulary(self.vocabulary)
            else:
                self._cache["c"] = _grammar(self.kind) if self.kind in GRAMMARS else None
        return self._cache["c"]  # type: ignore[no-any-return]

    @property
    def uses_lm(self) -> bool:
        """Whether the character n-gram of prose weighs the reading (not for digits and lists)."""
        return self.kind in ("text", "name")


@functools.cache
def _grammar(kind: str) -> Grammar:
    return Grammar(GRAMMARS[kind])


def parse(ftype: FieldType, value: str) -> str | None:
    """``value``'s normal form for its kind, or None when it does not fit the kind."""
    text = normalize_text(value)
    kind = ftype.kind
    if kind == "text":
        return search_form(text)
    if kind == "checkbox":
        return {"yes": "yes", "no": "no"}.get(text.lower())
    if kind == "choice":
        c = ftype.constraint
        assert isinstance(c, Vocabulary)
        return c.entry(text)
    if not _grammar(kind).complete(text):
        return None
    if kind == "name":
        return text
    if kind == "number":
        return re.sub(r"\D", "", text)
    if kind == "amount":
        return _amount(text)
    return _date(text, ftype.order, ftype.century)


def _amount(text: str) -> str:
    digits = re.sub(r"[^\d.,]", "", text)
    m = re.fullmatch(r"(.*?)(?:[.,](\d{1,2}))?", digits)
    assert m is not None
    whole = re.sub(r"\D", "", m.group(1)) or "0"
    cents = (m.group(2) or "").ljust(2, "0")
    return f"{int(whole)}.{cents}"


def _date(text: str, order: str, century: int) -> str | None:
    parts = re.findall(r"\d+|[^\W\d_]+", text)
    if len(parts) == 1 and len(text) == 8:  # written in the boxes of DD MM YYYY, no separators
        parts = [text[:2], text[2:4], text[4:]]
    if len(parts) != 3:
        return None
    a, b, year = parts
    month_word = MONTHS.get(b.lower()) or next((n for m, n in MONTHS.items() if fold_accents(m) == fold_accents(b.lower())), None)
    if month_word is not None:
        day, month = int(a), month_word
    else:
        day, month = (int(a), int(b)) if order == "dmy" else (int(b), int(a))
    y = int(year) + (century * 100 if len(year) == 2 else 0)
    try:
        return dt.date(y, month, day).isoformat()
    except ValueError:
        return None


def searched_as(value: str, parsed: str | None) -> str:
    """A field's search form: its value's words, then its parsed value's where they differ
    (``12/03/1921`` is found by ``1921`` and by ``1921-03``)."""
    words, extra = search_form(value), search_form(parsed or "")
    return words if not extra or extra == words else f"{words} {extra}"


def field_type(spec: dict[str, Any]) -> FieldType:
    """A :class:`FieldType` from a template's field definition (``type``, ``vocabulary``,
    ``order``, ``century``)."""
    return FieldType(
        str(spec.get("type", "text")),
        tuple(str(v) for v in spec.get("vocabulary") or ()),
        str(spec.get("order", "dmy")),
        int(spec.get("century", 19)),
    )


__all__: Sequence[str] = ["KINDS", "Constraint", "FieldType", "Grammar", "Vocabulary", "field_type", "parse", "searched_as"]
