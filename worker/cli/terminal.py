"""Text shown on a terminal: nothing in it is obeyed as a control sequence."""

from __future__ import annotations

import unicodedata


def printable(text: str, keep: str = "") -> str:
    """``text`` with control and format characters (C0, DEL, C1, bidi
    overrides...) written as escapes (``\\x1b``, ``\\u202e``); the
    characters in ``keep`` (e.g. a newline) pass as they are."""
    out = []
    for ch in text:
        if ch in keep or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)
