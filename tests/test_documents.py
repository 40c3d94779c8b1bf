import io

import numpy as np
import pytest
from PIL import Image

from worker.documents import BadInput, Limits, iter_pages, page_count, sniff


def _page(w=600, h=400, mark=True):
    img = Image.new("L", (w, h), 240)
    if mark:  # a dark block in the top-left corner shows orientation
        img.paste(0, (10, 10, 110, 60))
    return img


def test_sniff_by_content_not_name():
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"II*\x00") == "tiff" and sniff(b"MM\x00*") == "tiff"
    assert sniff(b"hello") is None


def test_png_and_jpeg_pages(tmp_path):
    _page().save(tmp_path / "a.png")
    _page().convert("RGB").save(tmp_path / "b.jpg", quality=90)
    for name in ("a.png", "b.jpg"):
        pages = list(iter_pages(tmp_path / name))
        assert len(pages) == 1 and pages[0].image.shape == (400, 600) and pages[0].image.dtype == np.uint8


def test_exif_orientation_is_honoured(tmp_path):
    img = _page().convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    (page,) = list(iter_pages(tmp_path / "r.jpg"))
    assert page.image.shape == (600, 400)
    assert page.image[10:110, 340:390].mean() < 60  # the mark turned to the top-right
    assert page.image[10:60, 10:110].mean() > 200


def test_multipage_tiff(tmp_path):
    frames = [_page(), _page(300, 200), _page(500, 500)]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    pages = list(iter_pages(tmp_path / "m.tif"))
    assert [p.image.shape for p in pages] == [(400, 600), (200, 300), (500, 500)]
    assert page_count(tmp_path / "m.tif") == 3


def test_pdf_pages_render_one_at_a_time_at_300_dpi(tmp_path):
    frames = [_page(), _page()]
    frames[0].save(tmp_path / "d.pdf", save_all=True, append_images=frames[1:], resolution=100)
    assert page_count(tmp_path / "d.pdf") == 2
    it = iter_pages(tmp_path / "d.pdf")
    first = next(it)
    assert first.dpi == 300 and first.image.shape == (1200, 1800)  # 6x4 inch at 300 dpi
    assert len(list(it)) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty file"),
        (b"just some text\n", "unsupported file type"),
        (b"%PDF-1.4\n1 0 obj garbage\n%%EOF", "corrupt PDF"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt image"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, content, message):
    p = tmp_path / "bad.bin"
    p.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        list(iter_pages(p))


def test_truncated_jpeg_is_reported(tmp_path):
    buf = io.BytesIO()
    _page(1200, 900).save(buf, "JPEG")
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[:300])
    with pytest.raises(BadInput):
        list(iter_pages(tmp_path / "t.jpg"))


def test_encrypted_pdf(tmp_path):
    from pypdf import PdfReader, PdfWriter

    _page().save(tmp_path / "plain.pdf")
    w = PdfWriter()
    for pg in PdfReader(tmp_path / "plain.pdf").pages:
        w.add_page(pg)
    w.encrypt(user_password="secret", owner_password="owner")
    with open(tmp_path / "enc.pdf", "wb") as f:
        w.write(f)
    with pytest.raises(BadInput, match="encrypted PDF"):
        list(iter_pages(tmp_path / "enc.pdf"))


def test_oversized_file_and_decompression_bomb_guards(tmp_path):
    _page(2000, 2000).save(tmp_path / "big.png")
    with pytest.raises(BadInput, match="decompression bomb|exceeds"):
        list(iter_pages(tmp_path / "big.png", Limits(max_pixels=1_000_000)))
    with pytest.raises(BadInput, match="file too large"):
        list(iter_pages(tmp_path / "big.png", Limits(max_bytes=100)))


def test_limits_follow_the_environment_at_call_time(tmp_path, monkeypatch):
    # Set after import, as a worker's or a test's environment would be.
    _page(400, 300).save(tmp_path / "p.tiff", save_all=True, append_images=[_page(400, 300), _page(400, 300)])
    assert page_count(tmp_path / "p.tiff") == 3
    monkeypatch.setenv("HTR_MAX_PAGES", "2")
    with pytest.raises(BadInput, match="more than 2 pages"):
        list(iter_pages(tmp_path / "p.tiff"))
    monkeypatch.setenv("HTR_MAX_PAGE_PIXELS", "1000")
    monkeypatch.setenv("HTR_MAX_FILE_MB", "0.001")
    assert Limits.from_env() == Limits(max_bytes=1048, max_pixels=1000, max_pages=2)
