"""Training data small enough to travel to a lent GPU machine, and back to the standard layout there.

    python scripts/device_pack.py pack SRC_DATA FONTS_DIR DEST     (here)
    python scripts/device_pack.py unpack PART... DATA FONTS        (on the device)

A call to the device carries at most 64 MiB with the working tree, so ``pack`` writes two parts,
``DEST/a`` and ``DEST/b`` (each about 50 MB), to be carried by two calls made back to back (the
first moves its part out of the way, the second unpacks both). What travels: the IAM On-Line
points as per-row differences (int16, LZMA: lossless, half the size of the shared file), the
real-page and register scans re-encoded as JPEG at quality 50 at their own resolution (the model
reads them through 48 px-high line crops), their XML gzipped, the Washington line images and
form-name crops as they are, and only the font files training reads. Sets training does not read
stay behind (``peraire``: the new-hand benchmark; Washington's word crops).
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import sys
from pathlib import Path

import numpy as np

# (part, set): the parts are balanced by size; copiste's scans alone are about 41 MB.
PAGE_SETS = {"real-pages/copiste": "a", "real-pages/stanford": "a", "real-pages/poilus": "b", "registers/riant": "b"}
COPIED = ("form-names", "washington/data/line_images_normalized", "washington/ground_truth", "washington/sets")
JPEG_QUALITY = 50


def pack(src: Path, fonts: Path, dest: Path) -> None:
    import cv2

    b = dest / "b"
    z = np.load(src / "iam-ondb" / "iam-ondb.npz")
    points = z["points"].astype(np.int32)
    delta = np.diff(points, axis=0, prepend=np.zeros((1, 2), np.int32)).astype(np.int16)
    (b / "iam-ondb").mkdir(parents=True, exist_ok=True)
    (b / "iam-ondb" / "points.i16.xz").write_bytes(lzma.compress(delta.tobytes(), preset=9))
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: z[k] for k in z.files if k != "points"})
    (b / "iam-ondb" / "rest.npz").write_bytes(buf.getvalue())
    for rel in (r for r in COPIED if (src / r).is_dir()):
        shutil.copytree(src / rel, b / "data" / rel, dirs_exist_ok=True)
    for rel, part in PAGE_SETS.items():
        if not (src / rel).is_dir():
            continue
        out = dest / part / "data" / rel
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "xml").mkdir(parents=True, exist_ok=True)
        for xml in sorted((src / rel / "xml").iterdir()):
            (out / "xml" / (xml.name + ".gz")).write_bytes(gzip.compress(xml.read_bytes()))
        for img in sorted((src / rel / "images").iterdir()):
            gray = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE)
            ok, enc = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            assert ok, img
            (out / "images" / (img.stem + ".jpg")).write_bytes(enc.tobytes())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from training.fonts.faces import FontError, find_faces

    try:
        faces, _ = find_faces(root=fonts)
    except FontError:
        faces = []  # no fonts installed: the fonts sets cannot be trained on there either
    for face in faces:
        for path in (*face.files, *([face.license_file] if face.license_file else [])):
            target = b / "fonts" / Path(path).relative_to(fonts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    if (fonts / "package.json").is_file():
        (b / "fonts").mkdir(parents=True, exist_ok=True)
        shutil.copy2(fonts / "package.json", b / "fonts" / "package.json")


def unpack(*args: Path) -> None:
    *parts, data, fonts = args
    for part in parts:
        if (part / "data").is_dir():
            shutil.copytree(part / "data", data, dirs_exist_ok=True)
        if (part / "fonts").is_dir():
            shutil.copytree(part / "fonts", fonts, dirs_exist_ok=True)
        onl = part / "iam-ondb"
        if onl.is_dir():
            rest = np.load(onl / "rest.npz")
            delta = np.frombuffer(lzma.decompress((onl / "points.i16.xz").read_bytes()), np.int16).reshape(-1, 2)
            arrays = {k: rest[k] for k in rest.files}
            arrays["points"] = np.cumsum(delta.astype(np.int32), axis=0).astype(np.int16)
            (data / "iam-ondb").mkdir(parents=True, exist_ok=True)
            np.savez(data / "iam-ondb" / "iam-ondb.npz", **arrays)
    for gz in data.rglob("*.xml.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()


if __name__ == "__main__":
    verb, *paths = [Path(a) for a in sys.argv[1:]]
    if str(verb) == "pack":
        pack(*paths)
    elif str(verb) == "unpack":
        unpack(*paths)
    else:
        sys.exit(__doc__)
