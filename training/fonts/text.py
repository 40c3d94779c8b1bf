"""Text for synthetic handwriting, with the mix that forms and letters have.

Sources are real English: IAM-OnDB *train* transcriptions (the LOB corpus
prose; the texts ``a01``/``a02`` are not in that copy) and, when the
``wordfreq`` package is installed, its English word list by frequency. Names
come from the capitalised words of that prose that do not start a sentence,
plus a short list of common given names and surnames. On top of prose the
generator writes what forms hold: names (``SMITH John``, ``J. Smith``),
capitalised titles, ALL-CAPS headers and fields, digits, dates, amounts,
references and punctuation.

Every call takes a ``numpy`` Generator, so a seed gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recognition.charset import Charset

_GIVEN = """James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Mark Paul Steven Andrew Kenneth George Edward Brian Ronald Kevin Jason Timothy Gary Peter Henry Arthur
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Margaret Lisa Betty Dorothy
Sandra Ashley Emily Donna Michelle Carol Amanda Helen Anne Alice Ruth Joan Jean Marie Claire Sophie Emma Louise
Pierre Jacques Michel Alain Philippe Nicolas Julien Antoine Camille Manon Chloe Lea Hugo Lucas Ines Yasmine
Mohamed Ahmed Fatima Ali Omar Hans Klaus Giovanni Marco Luca Maria Ana Carlos Jose Ivan Olga Hiroshi Yuki Wei""".split()
_SURNAMES = """Smith Jones Williams Brown Taylor Davies Wilson Evans Thomas Johnson Roberts Walker Wright Robinson
Thompson White Hughes Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke Clark Turner Hill Scott Cooper
Morris Ward Moore King Watson Baker Harrison Morgan Patel Young Allen Mitchell James Anderson Phillips Lee Bell
Parker Davis MacLeod McDonald O'Brien Fitzgerald Gaitskell Griffiths Dubois Durand Lefebvre Moreau Laurent
Simon Michel Garcia Bernard Petit Richard Robert Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau
Vincent Muller Schmidt Schneider Fischer Weber Rossi Russo Ferrari Esposito Bianchi Romano Kowalski Nowak
Novak Ivanov Tanaka Suzuki Nguyen Chen Wang Kim Singh Kumar Hernandez Lopez Gonzalez Perez Sanchez""".split()
_FIELDS = [
    "Name",
    "Surname",
    "First name",
    "Forename",
    "Address",
    "Date",
    "Date of birth",
    "Tel",
    "Phone",
    "No",
    "Ref",
    "Total",
    "Amount",
    "Signed",
    "Witness",
    "Occupation",
    "Age",
    "Town",
    "County",
    "Postcode",
    "Account",
    "Invoice",
    "Order",
    "Item",
    "Qty",
    "Price",
    "Class",
    "Room",
    "Page",
    "Box",
    "Folio",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTHS_SHORT = [m[:3] for m in _MONTHS]


@dataclass
class TextSource:
    """Word pools for the generator (build once with :meth:`build`)."""

    lines: list[str]  # prose lines
    words: list[str]  # frequency-ordered vocabulary
    weights: np.ndarray  # sampling weights of ``words``
    proper: list[str]  # capitalised names and places
    _cdf: np.ndarray = field(init=False, repr=False)  # cumulative weights, normalized as rng.choice does

    def __post_init__(self) -> None:
        self._cdf = np.cumsum(self.weights)
        if len(self._cdf):
            self._cdf /= self._cdf[-1]

    @classmethod
    def build(cls, prose: list[str], extra_names: Sequence[str] = (), charset: Charset | None = None) -> TextSource:
        charset = charset or Charset()
        lines = [charset.normalize(t) for t in prose if t.strip()]
        proper: set[str] = set(_SURNAMES) | set(_GIVEN) | {n.title() for n in extra_names if n.isalpha()}
        counts: dict[str, int] = {}
        for line in lines:
            toks = line.split()
            for k, tok in enumerate(toks):
                w = tok.strip(".,;:!?\"'()-")
                if not w.isalpha():
                    continue
                counts[w.lower()] = counts.get(w.lower(), 0) + 1
                sentence_start = k == 0 or toks[k - 1][-1:] in '.!?"'
                if w[0].isupper() and not sentence_start and len(w) > 2 and not w.isupper():
                    proper.add(w)
        words, weights = _wordfreq_words(charset)
        if not words:
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            words = [w for w, _ in ranked]
            weights = np.array([c for _, c in ranked], np.float64)
        weights = np.sqrt(weights)  # flatter than Zipf: rarer words get seen too
        return cls(lines, words, weights / weights.sum(), sorted(proper))

    def word(self, rng: np.random.Generator) -> str:
        """A word drawn by weight: what ``rng.choice(len(words), p=weights)`` draws, from the
        same one uniform number, without summing the 30,000 weights on every call."""
        return self.words[int(self._cdf.searchsorted(rng.random(), side="right"))]


def _wordfreq_words(charset: Charset, n: int = 30000) -> tuple[list[str], np.ndarray]:
    try:
        from wordfreq import top_n_list, word_frequency
    except ImportError:
        return [], np.zeros(0)
    words = [w for w in top_n_list("en", n) if w.isalpha() and charset.normalize(w) == w]
    return words, np.array([word_frequency(w, "en") for w in words], np.float64)


def _case(word: str, rng: np.random.Generator, p_cap: float = 0.15, p_upper: float = 0.05) -> str:
    r = rng.random()
    if r < p_upper:
        return word.upper()
    if r < p_upper + p_cap:
        return word[:1].upper() + word[1:]
    return word


def _date(rng: np.random.Generator) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1850, 2030))
    style = int(rng.integers(6))
    sep = "/-."[int(rng.integers(3))]
    if style == 0:
        return f"{d}{sep}{m}{sep}{y}"
    if style == 1:
        return f"{d:02d}{sep}{m:02d}{sep}{y % 100:02d}"
    if style == 2:
        return f"{d} {_MONTHS[m - 1]} {y}"
    if style == 3:
        return f"{_MONTHS_SHORT[m - 1]}. {d}, {y}"
    if style == 4:
        return f"{_ordinal(d)} {_MONTHS[m - 1]}"
    return f"{y}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _amount(rng: np.random.Generator) -> str:
    v = float(np.exp(rng.uniform(0, 9)))
    style = int(rng.integers(5))
    if style == 0:
        return f"{v:,.2f}"
    if style == 1:
        return f"{int(v)}"
    if style == 2:
        return f"{v:.2f}"
    if style == 3:
        return f"{int(v)}/-"
    return f"{int(v)} - {int(rng.integers(0, 20))} - {int(rng.integers(0, 12))}"


def _number(rng: np.random.Generator) -> str:
    style = int(rng.integers(6))
    if style == 0:
        return f"{int(rng.integers(0, 10000))}"
    if style == 1:
        return " ".join(f"{int(rng.integers(0, 1000)):03d}" for _ in range(int(rng.integers(2, 4))))
    if style == 2:
        letters = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(1, 3))))
        return f"{letters}-{int(rng.integers(1, 9999))}"
    if style == 3:
        return f"#{int(rng.integers(1, 500))}"
    if style == 4:
        return f"({int(rng.integers(1, 99))})"
    return f"{int(rng.integers(1, 99))} + {int(rng.integers(1, 99))} * {int(rng.integers(1, 9))}"


def _name(src: TextSource, rng: np.random.Generator) -> str:
    given = _GIVEN[int(rng.integers(len(_GIVEN)))]
    sur = src.proper[int(rng.integers(len(src.proper)))] if rng.random() < 0.5 else _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    style = int(rng.integers(7))
    if style == 0:
        return f"{given} {sur}"
    if style == 1:
        return f"{sur.upper()} {given}"
    if style == 2:
        return f"{given[0]}. {sur}"
    if style == 3:
        return f"{sur}, {given}"
    if style == 4:
        return f"{['Mr.', 'Mrs.', 'Miss', 'Dr.', 'Rev.'][int(rng.integers(5))]} {sur}"
    if style == 5:
        return f"{given.upper()} {sur.upper()}"
    return sur.upper()


def _field(src: TextSource, rng: np.random.Generator) -> str:
    label = _FIELDS[int(rng.integers(len(_FIELDS)))]
    if rng.random() < 0.3:
        label = label.upper()
    kind = int(rng.integers(4))
    value = [_date, _amount, _number][kind](rng) if kind < 3 else _name(src, rng)
    return f"{label}: {value}" if rng.random() < 0.7 else f"{label} {value}"


def _words_line(src: TextSource, rng: np.random.Generator, n: int) -> str:
    out = []
    for k in range(n):
        w = _case(src.word(rng), rng)
        if k == 0:
            w = w[:1].upper() + w[1:]
        r = rng.random()
        if r < 0.08:
            w += ","
        elif r < 0.11:
            w += "."
        elif r < 0.12:
            w += rng.choice([";", ":", "?", "!"])
        elif r < 0.13:
            w = f'"{w}"'
        elif r < 0.14:
            w = f"({w})"
        elif r < 0.15:
            w = f"{w}'s"
        out.append(w)
    return " ".join(out)


def sample_line(src: TextSource, rng: np.random.Generator, max_chars: int = 60) -> str:
    """One line of text: prose, words, names, titles, headers, fields, dates."""
    r = rng.random()
    if r < 0.30 and src.lines:
        text = src.lines[int(rng.integers(len(src.lines)))]
    elif r < 0.36 and src.lines:
        text = src.lines[int(rng.integers(len(src.lines)))].upper()
    elif r < 0.56:
        text = _words_line(src, rng, int(rng.integers(2, 9)))
    elif r < 0.66:
        text = " ".join(_case(src.word(rng), rng, 0.0, 1.0) for _ in range(int(rng.integers(1, 5))))
    elif r < 0.74:
        text = " ".join(
            (_case(src.word(rng), rng, 1.0, 0.0) if rng.random() < 0.8 else src.word(rng)) for _ in range(int(rng.integers(2, 6)))
        )
    elif r < 0.84:
        text = _name(src, rng)
    elif r < 0.94:
        text = _field(src, rng)
    else:
        text = " ".join([_date, _amount, _number][int(rng.integers(3))](rng) for _ in range(int(rng.integers(1, 4))))
    text = " ".join(text.split())
    if len(text) > max_chars:  # cut at a word boundary
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > 0 else max_chars]
    return text


def sample_word(src: TextSource, rng: np.random.Generator) -> str:
    """One word as offline IAM crops it (punctuation stays on its word)."""
    tokens = sample_line(src, rng).split()
    return tokens[int(rng.integers(len(tokens)))]


_MOIS = ["janvier", "mars", "avril", "mai", "juin", "juillet", "septembre", "octobre", "novembre"]  # no accent a font may lack


def _form_date(rng: np.random.Generator) -> str:
    """A date as written in a form's field: digits with one separator, eight digits, a month in words."""
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1800, 2030))
    style = int(rng.integers(6))
    sep = "/.- "[int(rng.integers(4))]
    year = f"{y}" if rng.random() < 0.75 else f"{y % 100:02d}"
    if style <= 1:
        return f"{d:02d}{sep}{m:02d}{sep}{year}"
    if style == 2:
        return f"{d}{sep}{m}{sep}{year}"
    if style == 3:
        return f"{d:02d}{m:02d}{y}"
    if style == 4:
        return f"{d} {_MOIS[int(rng.integers(len(_MOIS)))]} {y}"
    return f"{d} {_MONTHS[m - 1]} {y}"


def _form_number(rng: np.random.Generator) -> str:
    n = int(rng.integers(0, 10 ** int(rng.integers(1, 7))))
    if n >= 1000 and rng.random() < 0.3:
        return f"{n:,}".replace(",", " " if rng.random() < 0.5 else ".")
    return str(n)


def _form_amount(rng: np.random.Generator) -> str:
    whole, cents = int(np.exp(rng.uniform(0, 9))), int(rng.integers(0, 100))
    mark = "," if rng.random() < 0.6 else "."
    value = f"{whole}{mark}{cents:02d}" if rng.random() < 0.8 else str(whole)
    r = rng.random()
    return f"{value} F" if r < 0.1 else f"£{value}" if r < 0.2 else f"{value} €" if r < 0.3 else value


def sample_field_value(src: TextSource, rng: np.random.Generator) -> str:
    """What one field of a form holds: a date, a number, an amount, a name in capitals, a word."""
    r = rng.random()
    if r < 0.25:
        return _form_date(rng)
    if r < 0.45:
        return _form_number(rng)
    if r < 0.6:
        return _form_amount(rng)
    if r < 0.8:
        pool = src.proper if src.proper and rng.random() < 0.5 else _SURNAMES  # no prose without the data
        sur = pool[int(rng.integers(len(pool)))]
        given = _GIVEN[int(rng.integers(len(_GIVEN)))]
        return (
            sur.upper()
            if rng.random() < 0.6
            else f"{given.upper()}-{_GIVEN[int(rng.integers(len(_GIVEN)))].upper()}"
            if rng.random() < 0.2
            else given.upper()
        )
    return _case(src.word(rng), rng)
