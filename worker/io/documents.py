"""Reading documents: file type by content, pages one at a time as gray images.

PDFs are rendered by poppler (pdf2image) at 300 dpi one page per call, so
memory stays flat however long the document; PNG, JPEG and (multi-page) TIFF
are read with Pillow, EXIF orientation honoured. Everything that makes a
document unusable raises :class:`BadInput` with a message meant for a person:
it is recorded against that document and never retried.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

RENDER_DPI = 300  # PDF pages without one scanned image (vector, text, several images)
SCAN_WIDTH = 2480  # px: a scanned page renders at its image's own pixels, upsampled (at most 2x) towards this width
MIN_DPI = 50  # below this a page is too large to read within the pixel limit
SUBPROCESS_TIMEOUT = 120  # seconds for one poppler call


class BadInput(Exception):
    """The document cannot be processed as given (corrupt, encrypted, empty, too big, wrong type)."""


@dataclass(frozen=True)
class Limits:
    """What a document may be; set from ``HTR_MAX_*`` by :class:`worker.settings.Settings`."""

    max_bytes: int = 512 * 1024 * 1024  # HTR_MAX_FILE_MB
    max_pixels: int = 120_000_000  # HTR_MAX_PAGE_PIXELS (per page, also Pillow's bomb guard)
    max_pages: int = 2000  # HTR_MAX_PAGES


@dataclass
class PageImage:
    index: int  # 0-based
    image: np.ndarray  # uint8 gray
    dpi: int


def sniff(head: bytes) -> str | None:
    """Document type from its first bytes: pdf, png, jpeg, tiff, or None."""
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


def _mib(n: float) -> str:
    return f"{n / 2**20:.3g} MiB"


def check_file(path: str | Path, limits: Limits | None = None) -> str:
    """Validate that ``path`` is a regular file (not a link, folder, device or
    FIFO: those are refused before anything is read, so nothing hangs),
    within the size limit, of a supported type; returns the type."""
    p = Path(path)
    limits = limits or Limits()
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise BadInput("no such file") from None
    except OSError as exc:
        raise BadInput(f"cannot be read: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise BadInput("a symbolic link: give the file itself")
    if stat.S_ISDIR(st.st_mode):
        raise BadInput("a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput("not a regular file (a device, FIFO or socket)")
    size = st.st_size
    if size == 0:
        raise BadInput("empty file (0 bytes)")
    if size > limits.max_bytes:
        raise BadInput(f"file too large: {_mib(size)} > limit {_mib(limits.max_bytes)}")
    try:
        with open(p, "rb") as f:
            kind = sniff(f.read(2048))
    except OSError as exc:
        raise BadInput(f"cannot be read: {exc.strerror or exc}") from exc
    if kind is None:
        raise BadInput("unsupported file type: not a PDF, PNG, JPEG or TIFF")
    return kind


def _to_gray(img: Image.Image) -> np.ndarray:
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        # 16- and 32-bit gray: scaled to 8 bits (a plain conversion clips
        # everything above 255 to white).
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            lo, hi = float(a.min()), float(a.max())
        else:
            lo, hi = 0.0, 65535.0 if a.max() <= 65535 else float(a.max())
        return np.clip(np.round((a - lo) * 255.0 / max(hi - lo, 1e-9)), 0, 255).astype(np.uint8)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return np.asarray(img.convert("L"), dtype=np.uint8)


@contextmanager
def _pillow_errors(limits: Limits) -> Iterator[None]:
    """Pillow with our pixel limit as its bomb guard, and every error it raises
    on a broken file (ValueError, SyntaxError, KeyError, TypeError, OSError...)
    turned into :class:`BadInput`."""
    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's guard is process-wide: set ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInput(f"image too large (decompression bomb guard): {exc}") from exc
    except BadInput:
        raise
    except UnidentifiedImageError as exc:
        raise BadInput("corrupt image: cannot identify image data") from exc
    except Exception as exc:
        raise BadInput(
            f"corrupt image: {type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else f"corrupt image: {exc}"
        ) from exc


def _image_pages(path: Path, limits: Limits, skip: Collection[int] = ()) -> Iterator[PageImage]:
    with _pillow_errors(limits), Image.open(path) as img:
        for i, frame in enumerate(ImageSequence.Iterator(img)):
            if i >= limits.max_pages:
                raise BadInput(f"more than {limits.max_pages} pages")
            if i in skip:
                continue
            w, h = frame.size
            if w * h > limits.max_pixels:
                raise BadInput(f"page {i + 1}: {w}x{h} pixels exceeds the limit of {limits.max_pixels}")
            if w == 0 or h == 0:
                raise BadInput(f"page {i + 1}: empty image")
            dpi = frame.info.get("dpi", (RENDER_DPI, RENDER_DPI))[0] or RENDER_DPI
            try:
                gray = _to_gray(frame)
            except Exception as exc:  # a frame whose data does not decode
                raise BadInput(f"page {i + 1}: unreadable image data ({exc})") from exc
            yield PageImage(i, gray, int(round(float(dpi))))


def pdf_page_count(path: Path) -> int:
    from pdf2image import pdfinfo_from_path
    from pdf2image.exceptions import PDFPageCountError, PDFPopplerTimeoutError

    try:
        info = pdfinfo_from_path(str(path), timeout=SUBPROCESS_TIMEOUT)
    except PDFPageCountError as exc:
        msg = str(exc)
        if "password" in msg.lower() or "encrypt" in msg.lower():
            raise BadInput("encrypted PDF: a password is needed to open it") from exc
        if "last page (0)" in msg:  # poppler's words for a PDF without pages
            raise BadInput("PDF has no pages") from exc
        raise BadInput(f"corrupt PDF: {msg.strip().splitlines()[-1] if msg.strip() else 'unreadable'}") from exc
    except PDFPopplerTimeoutError as exc:
        raise BadInput("PDF could not be read in time") from exc
    pages = int(info.get("Pages", 0))
    if pages <= 0:
        raise BadInput("PDF has no pages")
    return pages


def _page_size_pts(path: Path, i: int) -> tuple[float, float]:
    """Page ``i``'s size in points (rotation applied), from pdfinfo."""
    import re

    from pdf2image import pdfinfo_from_path

    try:
        info = pdfinfo_from_path(str(path), first_page=i + 1, last_page=i + 1, timeout=SUBPROCESS_TIMEOUT)
    except Exception as exc:  # pdfinfo's own errors surface again when the page renders
        raise BadInput(f"page {i + 1}: cannot be read ({exc})") from exc
    size = next((v for k, v in info.items() if k.startswith("Page") and k.endswith(" size")), info.get("Page size", ""))
    m = re.match(r"\s*([\d.]+) x ([\d.]+) pts", str(size))
    if not m:
        return 612.0, 792.0
    w, h = float(m.group(1)), float(m.group(2))
    rot = next((v for k, v in info.items() if k.startswith("Page") and k.endswith(" rot")), "0")
    return (h, w) if str(rot).strip() in ("90", "270") else (w, h)


def scan_image_width(path: Path, i: int) -> int | None:
    """The width in pixels of page ``i``'s scan: when the page holds exactly
    one image (pdfimages -list), else None."""
    import subprocess

    try:
        out = subprocess.run(
            ["pdfimages", "-f", str(i + 1), "-l", str(i + 1), "-list", str(path)],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    rows = [ln.split() for ln in out.splitlines()[2:] if ln.strip()]
    images = [r for r in rows if len(r) > 4 and r[2] == "image"]
    if len(images) != 1:
        return None
    return int(images[0][3])


def render_dpi(path: Path, i: int, limits: Limits) -> int:
    """The dpi page ``i`` renders at. A scan (one image on the page) renders
    at its own pixels, whatever size the page declares (a 2480 px scan in a
    page declared at 96 dpi is not blown up to 7,750 px), upsampled up to 2x
    towards ``SCAN_WIDTH`` (a 150 dpi A4 scan reads better at 300); other
    pages at ``RENDER_DPI``. Lowered to keep the page within the pixel limit,
    and refused below ``MIN_DPI``."""
    w, h = _page_size_pts(path, i)
    image_w = scan_image_width(path, i)
    if image_w and w > 0:
        native = image_w / (w / 72.0)
        dpi = native * float(np.clip(SCAN_WIDTH / image_w, 1.0, 2.0))
    else:
        dpi = float(RENDER_DPI)
    pixels = (w / 72.0 * dpi) * (h / 72.0 * dpi)
    if pixels > limits.max_pixels:
        dpi = dpi * (limits.max_pixels / pixels) ** 0.5
        if dpi < MIN_DPI:
            raise BadInput(
                f"page {i + 1}: {w / 72:.0f} x {h / 72:.0f} inches is too large to read within {limits.max_pixels} pixels"
            )
    return int(round(dpi))


def _render_pdf_page(path: Path, i: int, limits: Limits) -> PageImage:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFPopplerTimeoutError, PDFSyntaxError

    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's guard is process-wide: set ours
    dpi = render_dpi(path, i, limits)
    try:
        imgs = convert_from_path(
            str(path), dpi=dpi, first_page=i + 1, last_page=i + 1, grayscale=True, timeout=SUBPROCESS_TIMEOUT
        )
    except Image.DecompressionBombError as exc:
        raise BadInput(f"page {i + 1}: rendered page too large (decompression bomb guard)") from exc
    except (PDFSyntaxError, PDFPopplerTimeoutError, OSError, ValueError) as exc:
        raise BadInput(f"page {i + 1}: cannot be rendered ({exc})") from exc
    if not imgs:
        raise BadInput(f"page {i + 1}: cannot be rendered")
    img = imgs[0]
    if img.size[0] * img.size[1] > limits.max_pixels:
        raise BadInput(f"page {i + 1}: rendered page exceeds {limits.max_pixels} pixels")
    if min(img.size) <= 1:  # poppler's answer when it cannot allocate the page
        raise BadInput(f"page {i + 1}: poppler could not render the page (it returned {img.size[0]} x {img.size[1]} px)")
    return PageImage(i, np.asarray(img.convert("L"), dtype=np.uint8), dpi)


class PageSource:
    """A document's pages, the one way both runners read them: opening checks
    everything that needs no rendering (:func:`check_file`, the page limit
    and, for images, each frame's pixel count from its header) and counts the
    pages; ``read(i)`` renders one page (a PDF renders just that page);
    iterating streams them in order, one at a time; ``pages(skip)`` streams
    all but the pages in ``skip``, which are not rendered."""

    def __init__(self, path: str | Path, limits: Limits | None = None):
        self.path = Path(path)
        self.limits = limits or Limits()
        self.kind = check_file(self.path, self.limits)
        self.count = self._count()
        if self.count <= 0:
            raise BadInput("document has no pages")

    def _count(self) -> int:
        limits = self.limits
        if self.kind == "pdf":
            n = pdf_page_count(self.path)
            if n > limits.max_pages:
                raise BadInput(f"PDF has {n} pages, more than the limit of {limits.max_pages}")
            return n
        with _pillow_errors(limits), Image.open(self.path) as img:
            n = getattr(img, "n_frames", 1)
            if n > limits.max_pages:
                raise BadInput(f"more than {limits.max_pages} pages")
            w, h = img.size
            if w * h > limits.max_pixels:
                raise BadInput(f"page 1: {w}x{h} pixels exceeds the limit of {limits.max_pixels}")
            return n

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[PageImage]:
        return self.pages()

    def pages(self, skip: Collection[int] = ()) -> Iterator[PageImage]:
        """The pages in order, but those whose index is in ``skip``."""
        if self.kind == "pdf":
            for i in range(self.count):
                if i not in skip:
                    yield _render_pdf_page(self.path, i, self.limits)
        else:
            yield from _image_pages(self.path, self.limits, skip)

    def read(self, index: int) -> PageImage:
        """Page ``index`` (0-based)."""
        if not 0 <= index < self.count:
            raise BadInput(f"page {index + 1}: the document has {self.count} pages")
        if self.kind == "pdf":
            return _render_pdf_page(self.path, index, self.limits)
        for page in _image_pages(self.path, self.limits):
            if page.index == index:
                return page
        raise BadInput(f"page {index + 1}: the image has fewer pages")


def page_count(path: str | Path, limits: Limits | None = None) -> int:
    """Pages of a document, after every check that needs no rendering."""
    return PageSource(path, limits).count


def iter_pages(path: str | Path, limits: Limits | None = None) -> Iterator[PageImage]:
    """Pages of a document as gray images, one at a time."""
    yield from PageSource(path, limits)


def read_page(path: str | Path, index: int, limits: Limits | None = None) -> PageImage:
    """One page (0-based) of a document."""
    return PageSource(path, limits).read(index)
