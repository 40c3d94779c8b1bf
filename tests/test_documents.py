import io

import numpy as np
import pytest
from PIL import Image

from worker.io.documents import BadInput, Limits, iter_pages, page_count, sniff


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


def test_pdf_pages_render_one_at_a_time_at_the_scans_resolution(tmp_path):
    frames = [_page(), _page()]
    frames[0].save(tmp_path / "d.pdf", save_all=True, append_images=frames[1:], resolution=100)
    assert page_count(tmp_path / "d.pdf") == 2
    it = iter_pages(tmp_path / "d.pdf")
    first = next(it)
    assert first.dpi == 200 and first.image.shape == (800, 1200)  # a 600 x 400 px scan, upsampled 2x at most
    assert len(list(it)) == 1


def test_a_large_scan_in_a_page_declared_at_low_resolution_keeps_its_pixels(tmp_path):
    _page(2480, 1200).save(tmp_path / "s.pdf", resolution=96)  # a 25.8-inch-wide page
    (page,) = iter_pages(tmp_path / "s.pdf")
    assert page.image.shape == (1200, 2480) and page.dpi == 96  # not 7,750 px wide at 300 dpi


def test_a_pdf_page_without_a_scan_renders_at_300_dpi(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=288, height=144)  # 4 x 2 inches, no image
    with open(tmp_path / "v.pdf", "wb") as f:
        w.write(f)
    (page,) = iter_pages(tmp_path / "v.pdf")
    assert page.dpi == 300 and page.image.shape == (600, 1200)


def test_a_huge_pdf_page_is_refused_or_rendered_within_the_pixel_limit(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=14400, height=14400)  # 200 x 200 inches
    with open(tmp_path / "huge.pdf", "wb") as f:
        w.write(f)
    with pytest.raises(BadInput, match="200 x 200 inches is too large"):
        list(iter_pages(tmp_path / "huge.pdf", Limits(max_pixels=4_000_000)))
    w = PdfWriter()
    w.add_blank_page(width=1440, height=1440)  # 20 x 20 inches: 36 M pixels at 300 dpi
    with open(tmp_path / "big.pdf", "wb") as f:
        w.write(f)
    (page,) = iter_pages(tmp_path / "big.pdf", Limits(max_pixels=4_000_000))
    assert page.dpi == 100 and page.image.size <= 4_000_000


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


def test_limits_come_from_the_settings(tmp_path):
    from worker.settings import Settings, SettingsError

    _page(400, 300).save(tmp_path / "p.tiff", save_all=True, append_images=[_page(400, 300), _page(400, 300)])
    assert page_count(tmp_path / "p.tiff") == 3
    limits = Settings.from_env({"HTR_MAX_PAGES": "2", "HTR_MAX_PAGE_PIXELS": "1000", "HTR_MAX_FILE_MB": "0.001"}).limits
    assert limits == Limits(max_bytes=1048, max_pixels=1000, max_pages=2)
    with pytest.raises(BadInput, match="more than 2 pages"):
        list(iter_pages(tmp_path / "p.tiff", Settings.from_env({"HTR_MAX_PAGES": "2"}).limits))
    assert Settings.from_env({}).limits == Limits()
    for name, bad in (("HTR_MAX_PAGES", "two"), ("HTR_MAX_FILE_MB", "-1"), ("HTR_MAX_PAGE_PIXELS", "1e9x")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: bad})


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    a = np.full((60, 80), 60000, np.uint16)
    a[20:40, 20:60] = 2000  # dark ink on light paper, 16 bits deep
    Image.fromarray(a).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    (page,) = iter_pages(tmp_path / "deep.png")
    assert page.image.dtype == np.uint8
    assert page.image[0, 0] == round(60000 * 255 / 65535) and page.image[30, 30] == round(2000 * 255 / 65535)


def test_special_files_are_refused_unread(tmp_path):
    import os
    import time

    (tmp_path / "folder.pdf").mkdir()
    os.mkfifo(tmp_path / "pipe.pdf")  # reading it would block for ever
    _page().save(tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    cases = {"folder.pdf": "a folder", "pipe.pdf": "not a regular file", "link.png": "symbolic link", "gone.png": "no such file"}
    for name, message in cases.items():
        t0 = time.monotonic()
        with pytest.raises(BadInput, match=message):
            page_count(tmp_path / name)
        with pytest.raises(BadInput, match=message):
            list(iter_pages(tmp_path / name))
        assert time.monotonic() - t0 < 5
    with pytest.raises(BadInput, match="not a regular file"):
        page_count("/dev/zero")


def test_a_png_text_chunk_bomb_is_bad_input(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("junk", "x" * 20_000_000, zip=True)  # 20 MB of text in a few kB
    _page().save(tmp_path / "bomb.png", pnginfo=info)
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with pytest.raises(BadInput, match="corrupt image"):
        list(iter_pages(tmp_path / "bomb.png"))


def test_a_pdf_without_pages_says_so(tmp_path):
    from pypdf import PdfWriter

    with open(tmp_path / "none.pdf", "wb") as f:
        PdfWriter().write(f)
    with pytest.raises(BadInput, match="PDF has no pages"):
        page_count(tmp_path / "none.pdf")
    with pytest.raises(BadInput, match="PDF has no pages"):
        list(iter_pages(tmp_path / "none.pdf"))


def test_size_limit_message_shows_fractional_limits(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 400_000)
    with pytest.raises(BadInput, match=r"0\.381 MiB > limit 0\.3 MiB"):
        page_count(tmp_path / "a.png", Limits(max_bytes=int(0.3 * 2**20)))
