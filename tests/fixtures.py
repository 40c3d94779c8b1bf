"""Small generated fixtures: synthetic handwriting-like images and data sets
in the layouts the readers expect. Nothing here comes from real data sets."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import yaml

from training.datasets.folder import write_labels_folder


def text_image(text: str, height: int = 60, scale: float = 1.2, thickness: int = 2, pad: int = 10) -> np.ndarray:
    """Dark text on light paper (uint8 gray), drawn with a Hershey font."""
    font = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX
    (w, h), base = cv2.getTextSize(text or " ", font, scale, thickness)
    img = np.full((max(height, h + base + 2 * pad), w + 2 * pad), 235, np.uint8)
    cv2.putText(img, text, (pad, pad + h), font, scale, 30, thickness, cv2.LINE_AA)
    return img


def word_strokes(n_words: int, rng: np.random.Generator, gap: float = 400.0) -> list[np.ndarray]:
    """Pen trajectories in whiteboard-like units: wavy strokes per word, words
    separated by clear pen-up gaps."""
    strokes = []
    x = 0.0
    for _ in range(n_words):
        width = rng.uniform(300, 900)
        for s in range(2):
            xs = np.linspace(x + s * width / 2, x + (s + 1) * width / 2, 30)
            ys = 300 + 150 * np.sin(xs / 40.0 + rng.uniform(0, 6)) + rng.normal(0, 5, xs.size)
            strokes.append(np.stack([xs, ys], axis=1).astype(np.int16))
        x += width + gap
    return strokes


def write_iam_ondb(path: Path, texts_by_split: dict[str, list[str]], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    ids, texts, split, line_starts, stroke_starts, points = [], [], [], [0], [0], []
    n_pts = 0
    for sp, texts_ in texts_by_split.items():
        for i, t in enumerate(texts_):
            strokes = word_strokes(len(t.split()), rng)
            ids.append(f"z01-{i:03d}{sp[0]}-0{i % 10}")
            texts.append(t)
            split.append(sp)
            for s in strokes:
                points.append(s)
                n_pts += len(s)
                stroke_starts.append(n_pts)
            line_starts.append(line_starts[-1] + len(strokes))
    np.savez(
        path,
        ids=np.array(ids),
        texts=np.array(texts),
        split=np.array(split),
        line_stroke_start=np.array(line_starts, np.int32),
        stroke_point_start=np.array(stroke_starts, np.int32),
        points=np.concatenate(points).astype(np.int16),
    )
    return path


def write_iam_offline(root: Path) -> Path:
    """IAM layout: words.txt + words/..., lines.txt + lines/..., with an err row."""
    words = [
        ("a01-000u-00-00", "ok", "A"),
        ("a01-000u-00-01", "ok", "MOVE"),
        ("a01-000u-00-02", "err", "to"),
        ("a02-000-00-00", "ok", "stop"),
    ]
    lines = [
        ("a01-000u-00", "ok", "A|MOVE|to"),
        ("a02-000-00", "ok", "stop|Mr.|Gaitskell|,"),
        ("a02-000-01", "err", "from|nominating"),
    ]
    wrows = ["#--- words.txt (generated fixture) ---"]
    for wid, status, text in words:
        p = wid.split("-")
        img_dir = root / "words" / p[0] / f"{p[0]}-{p[1]}"
        img_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img_dir / f"{wid}.png"), text_image(text))
        wrows.append(f"{wid} {status} 154 408 768 27 51 AT {text}")
    (root / "words.txt").write_text("\n".join(wrows) + "\n")
    lrows = ["# lines.txt (generated fixture)"]
    for lid, status, text in lines:
        p = lid.split("-")
        img_dir = root / "lines" / p[0] / f"{p[0]}-{p[1]}"
        img_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(img_dir / f"{lid}.png"), text_image(text.replace("|", " ")))
        lrows.append(f"{lid} {status} 154 19 408 746 1661 89 {text}")
    (root / "lines.txt").write_text("\n".join(lrows) + "\n")
    (root / "testset.txt").write_text("a02-000-00\na02-000-01\n")
    return root


def write_washington(root: Path) -> Path:
    gt = root / "ground_truth"
    gt.mkdir(parents=True)
    (root / "data" / "line_images_normalized").mkdir(parents=True)
    (root / "data" / "word_images_normalized").mkdir(parents=True)
    lines = {
        "270-01": "s_2-s_7-s_0-s_pt|L-e-t-t-e-r-s-s_cm|O-r-d-e-r-s",
        "270-03": "u-n-l-e-s_s-s|s_1st|s_GW-s_mi|s_lb-s_5",
        "271-02": "a-n-d",
    }
    (gt / "transcription.txt").write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    wl = []
    for lid, field in lines.items():
        cv2.imwrite(str(root / "data" / "line_images_normalized" / f"{lid}.png"), text_image(lid))
        for j, w in enumerate(field.split("|"), 1):
            wid = f"{lid}-{j:02d}"
            wl.append(f"{wid} {w}")
            cv2.imwrite(str(root / "data" / "word_images_normalized" / f"{wid}.png"), text_image(wid))
    (gt / "word_labels.txt").write_text("\n".join(wl) + "\n")
    sets = root / "sets" / "cv1"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("270-01\n270-03\n")
    (sets / "test.txt").write_text("271-02\n")
    return root


def write_form_names(root: Path) -> Path:
    """A form-names folder: name crops in capitals, some with a printed field
    label beside them, numbered across the three split blocks."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = [(5, "BILEL"), (6, "JEAN-ROCH"), (7, "UNREADABLE"), (900, "LEA"), (901, "EMPTY"), (1100, "O'NEIL")]
    lines = []
    for n, text in rows:
        img = text_image(text if text.isupper() and text not in ("UNREADABLE", "EMPTY") else "XX", height=40, scale=1.0)
        if n % 2:
            label = text_image("NOM :", height=img.shape[0], scale=0.6, thickness=1)
            img = np.hstack([label, img])
        name = f"images/VALIDATION_{n:04d}.jpg"
        cv2.imwrite(str(root / name), img)
        lines.append(f"{name}\t{text}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_data_root(root: Path) -> Path:
    """A data root with IAM-OnDB strokes and form-names, as ``$HTR_DATA_DIR`` lays it out."""
    (root / "iam-ondb").mkdir(parents=True, exist_ok=True)
    write_iam_ondb(
        root / "iam-ondb" / "iam-ondb.npz",
        {
            "train": [
                "A MOVE to stop Mr. Gaitskell from",
                "nominating any more Labour life Peers",
                "is to be made at a meeting of",
                "Labour M Ps tomorrow. Mr. Michael Foot",
            ],
            "val": ["has put down a resolution on the"],
            "test": ["subject and he is to be backed"],
        },
    )
    write_form_names(root / "form-names")
    return root


TINY = {
    "conv_filters": [8, 16, 16, 16, 16],
    "pools": [[2, 2], [2, 2], [2, 1], [2, 1], [2, 1]],
    "rnn_units": 16,
    "rnn_layers": 1,
    "dropout": 0.0,
}
WORDS = ["cat", "dog", "bird", "fish", "cow", "hen"]


def write_tiny_config(tmp_path: Path, epochs: int = 1, **extra) -> Path:
    """A training config for a tiny model on generated words and strokes (seconds to train);
    ``extra``: other config keys."""
    folder = write_labels_folder(tmp_path / "words", [(f"{w}.png", text_image(w), w) for w in WORDS])
    ondb = write_iam_ondb(
        tmp_path / "iam-ondb" / "iam-ondb.npz" if (tmp_path / "iam-ondb").mkdir() is None else None,
        {"train": ["one two", "three"], "val": ["four five"]},
    )
    cfg = {
        "name": "tiny",
        "version": "t1",
        "run_dir": str(tmp_path / "run"),
        "output": str(tmp_path / "model"),
        "data_root": str(tmp_path),
        "preprocess": {"height": 32},
        "model": TINY,
        "train": [{"spec": str(folder), "weight": 2}, {"spec": "iam-ondb:train", "weight": 1}],
        "val": [str(folder), "iam-ondb:val"],
        "val_limit": 10,
        "batch_size": 4,
        "steps_per_epoch": 2,
        "epochs": epochs,
        "workers": 1,
        "lm_order": 3,
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert ondb.is_file()
    return path


def seed_document(sessions, store, path: Path, lines: list[list[tuple]]) -> int:
    """A processed one-page document without the model: a page image with
    ``lines`` drawn on it (each a list of (word, confidence) or (word,
    confidence, [(other spelling, probability), ...])), registered, segmented
    by hand and stored through the orchestration core's own steps (the word
    itself is indexed at its confidence). Returns the document id."""
    from recognition.keywords import Alternative
    from recognition.predictor import Recognition, WordReading
    from segmentation import Box
    from worker.io.documents import PageImage
    from worker.pipeline import PageWork, begin_document, register_document, save_page_image, store_page

    line_h, width = 90, 1400
    page = np.full((line_h * (len(lines) + 2), width), 250, np.uint8)
    boxes = []
    for i, words in enumerate(lines):
        y = line_h * (i + 1)
        cv2.putText(page, " ".join(w[0] for w in words), (40, y + 55), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 20, 2)
        boxes.append(Box(30, y + 10, width - 30, y + 80))
    cv2.imwrite(str(path), page)
    with sessions() as s:
        doc, _ = register_document(s, store, path)
        begin_document(s, doc.id)
        doc.page_count = 1
        s.commit()
        image = PageImage(0, page, 300)
        crops = [page[b.y0 : b.y1, b.x0 : b.x1] for b in boxes]
        work = PageWork(0, 300, width, page.shape[0], 0.0, boxes, boxes, crops, save_page_image(store, doc.content_hash, image))
        recs = []
        for words in lines:
            x, ws = 4.0, []
            for text, conf, *others in words:
                span = 30.0 * len(text)
                alts = [Alternative(text, conf)] + [Alternative(t, p) for t, p in (others[0] if others else [])]
                ws.append(WordReading(text, conf, x, x + span, alts))
                x += span + 30
            recs.append(Recognition(" ".join(w[0] for w in words), min(w[1] for w in words), [], ws))
        store_page(s, doc.id, work, recs, None)
        s.commit()
        return doc.id


HAND_WORDS = "the quick brown fox jumps over lazy dog pack my box with five dozen liquor jugs how vexingly daft zebras".split()


def unseen_hand(folder: Path, n: int, seed: int = 0) -> Path:
    """Lines in one hand the bundle never trained on (OpenCV's Hershey script)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        t = " ".join(rng.choice(HAND_WORDS, size=int(rng.integers(2, 5))))
        samples.append((f"l{i:03d}.png", text_image(t, height=60, scale=1.2), t))
    return write_labels_folder(folder, samples)


ALTO_NS = {
    "v2": "http://www.loc.gov/standards/alto/ns-v2#",
    "v3": "http://www.loc.gov/standards/alto/ns-v3#",
    "v4": "http://www.loc.gov/standards/alto/ns-v4#",
}
PAGE_NS = {
    "2013": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    "2019": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
}


def write_page_set(root: Path, texts: list[str], fmt: str = "alto", version: str = "v4", name: str = "page_0001") -> Path:
    """A scanned-looking page (Hershey script lines, well apart) as ``root/images/NAME.png`` with
    its ground truth in ``root/xml/NAME.xml``: ALTO (v2, v3, v4) or PAGE XML (2013, 2019), one
    region, a polygon, baseline and text per line. PAGE regions are listed in reverse and put
    in order by a ``ReadingOrder``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "xml").mkdir(parents=True, exist_ok=True)
    width, gap = 1200, 110
    page = np.full((gap * (len(texts) + 2), width), 235, np.uint8)
    lines = []
    for i, text in enumerate(texts):
        img = text_image(text, scale=1.4)
        y, x = gap * (i + 1), 60
        h, w = img.shape
        page[y : y + h, x : x + w] = np.minimum(page[y : y + h, x : x + w], img)
        ink = np.argwhere(img < 128)
        (y0, x0), (y1, x1) = ink.min(axis=0) + (y, x), ink.max(axis=0) + (y, x)
        lines.append((text, int(x0) - 3, int(y0) - 3, int(x1) + 3, int(y1) + 3))
    cv2.imwrite(str(root / "images" / f"{name}.png"), page)
    H, W = page.shape
    if fmt == "alto":
        ns = ALTO_NS[version]
        body = "".join(
            f'<TextLine ID="l{i}" BASELINE="{x0} {y1 - 8} {x1} {y1 - 8}" HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}">'
            f'<Shape><Polygon POINTS="{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1}"/></Shape>'
            + "".join(f'<String CONTENT="{w}"/><SP/>' for w in text.split())
            + "</TextLine>"
            for i, (text, x0, y0, x1, y1) in enumerate(lines)
        )
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><alto xmlns="{ns}"><Description><MeasurementUnit>pixel</MeasurementUnit>'
            f"<sourceImageInformation><fileName>{name}.png</fileName></sourceImageInformation></Description>"
            f'<Tags><OtherTag ID="BT1" LABEL="Main"/></Tags><Layout><Page WIDTH="{W}" HEIGHT="{H}" PHYSICAL_IMG_NR="1" ID="p1">'
            f'<PrintSpace><TextBlock ID="b1" TAGREFS="BT1">{body}</TextBlock></PrintSpace></Page></Layout></alto>'
        )
    else:
        ns = PAGE_NS[version]
        regions = []
        for i, (text, x0, y0, x1, y1) in enumerate(lines):
            pts = f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"
            regions.append(
                f'<TextRegion id="r{i}" custom="structure {{type:paragraph;}}"><Coords points="{pts}"/>'
                f'<TextLine id="l{i}"><Coords points="{pts}"/><Baseline points="{x0},{y1 - 8} {x1},{y1 - 8}"/>'
                f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine></TextRegion>"
            )
        order = "".join(f'<RegionRefIndexed index="{i}" regionRef="r{i}"/>' for i in range(len(lines)))
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><PcGts xmlns="{ns}"><Metadata><Creator>tests</Creator></Metadata>'
            f'<Page imageFilename="{name}.png" imageWidth="{W}" imageHeight="{H}">'
            f'<ReadingOrder><OrderedGroup id="g">{order}</OrderedGroup></ReadingOrder>'
            + "".join(reversed(regions))
            + "</Page></PcGts>"
        )
    (root / "xml" / f"{name}.xml").write_text(xml, encoding="utf-8")
    return root


REVIEW_LINES = [  # the review tests' seeded page (tests/conftest.py: site)
    [("the", 0.97), ("quick", 0.31), ("brown", 0.88)],
    [("fax", 0.12), ("jumps", 0.93)],
    [("over", 0.99), ("the", 0.99), ("dog", 0.64)],
]


def web_login(client, name: str = "rita", password: str = "correct horse") -> str:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": csrf, "next": "/review"})
    assert r.status_code == 303 and r.headers["location"] == "/review", r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return re.search(r'name="htr-csrf" content="([^"]+)"', client.get("/review").text).group(1)
