"""Bounded fuzzing of the document readers: clear error or pages, never a traceback or a hang."""

import io
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from worker.io.documents import BadInput, Limits, iter_pages, page_count

LIMITS = Limits(max_bytes=2 * 2**20, max_pixels=4_000_000, max_pages=8)


def _seeds() -> list[bytes]:
    """Small valid files of every supported type, to mutate."""
    img = Image.new("L", (64, 48), 230)
    img.paste(20, (8, 8, 40, 20))
    out = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("TIFF", {}), ("PDF", {"resolution": 72})):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seeds()


@st.composite
def documents(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))] * draw(st.integers(2, 20))
    return bytes(data)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=documents())
def test_readers_give_pages_or_a_clear_error(tmp_path, data):
    path = tmp_path / "doc"
    path.write_bytes(data)
    t0 = time.monotonic()
    try:
        n = page_count(path, LIMITS)
        pages = list(iter_pages(path, LIMITS))
    except BadInput as exc:
        assert str(exc)  # a message for a person
    else:
        assert 1 <= n <= LIMITS.max_pages and len(pages) >= 1
        for p in pages:
            assert p.image.dtype == np.uint8 and p.image.ndim == 2 and p.image.size > 0
    assert time.monotonic() - t0 < 30
