"""Registered forms: typed fields and their constrained reading, the acceptance guarantee,
template matching and field cutting on generated scans, and forms through ``htr``."""

import csv
import io
import json

import cv2
import numpy as np
import pytest

from benchmarks import synth_forms as sf
from recognition.acceptance import binomial_cdf, calibrate, calibrate_kinds, needed
from recognition.charset import Charset
from recognition.decoding import beam_decode, constrained_decode, greedy_decode
from recognition.field_types import FieldType, Grammar, Vocabulary, parse, searched_as
from segmentation.forms import FormTemplate, cut_fields, load_fields, match_template

DESIGNS = list(sf.DESIGNS)


@pytest.fixture(scope="module")
def templates():
    return [FormTemplate(d, sf.blank(d), load_fields(sf.field_spec(d))) for d in DESIGNS]


@pytest.fixture(scope="module")
def hands():
    return sf.Hands(None)  # names in capitals in the test fonts: no shared data needed


# ---------------------------------------------------------------- field types


@pytest.mark.parametrize(
    ("kind", "value", "parsed"),
    [
        ("date", "12/03/1921", "1921-03-12"),
        ("date", "12.3.21", "1921-03-12"),
        ("date", "12 mars 1921", "1921-03-12"),
        ("date", "3 May 1905", "1905-05-03"),
        ("date", "12031921", "1921-03-12"),
        ("date", "31/02/1921", None),  # no such day
        ("date", "12/03.1921", None),  # two separators
        ("date", "1921", None),
        ("number", "12 345", "12345"),
        ("number", "12a", None),
        ("amount", "12,50 €", "12.50"),
        ("amount", "1.234,5", "1234.50"),
        ("amount", "7", "7.00"),
        ("name", "JEAN-PIERRE D'ARC", "JEAN-PIERRE D'ARC"),
        ("name", "LEFÈVRE", "LEFÈVRE"),
        ("name", "Jean", None),  # a name field is written in capitals
    ],
)
def test_typed_values_parse_to_their_normal_form_or_not_at_all(kind, value, parsed):
    assert parse(FieldType(kind), value) == parsed


def test_a_month_first_date_and_a_choice():
    assert parse(FieldType("date", order="mdy"), "3/12/1921") == "1921-03-12"
    status = FieldType("choice", ("célibataire", "marié", "veuf"))
    assert parse(status, "MARIE") == "marié"  # case and accents are not told apart while reading
    assert parse(status, "divorcé") is None
    with pytest.raises(ValueError, match="vocabulary"):
        FieldType("choice")
    with pytest.raises(ValueError, match="unknown field kind"):
        FieldType("colour")


def test_grammar_and_vocabulary_allow_prefixes_that_can_still_complete():
    date = FieldType("date").constraint
    assert isinstance(date, Grammar)
    assert date.allows("12/0", "3") and date.allows("12/03", "/") and not date.allows("12/03", ".")
    assert not date.allows("", "a") and not date.complete("12/03")
    # Days and months from 1 to 31, years from 1000 to 2099: "06/11/2339" is no date to read.
    assert date.complete("06101939") and not date.complete("06112339") and not date.complete("00121921")
    assert not date.complete("32/01/1921") and not date.allows("06/11/23", "3") and date.complete("6.1.21")
    vocab = Vocabulary(["tenant", "owner"])
    assert vocab.allows("Ten", "a") and not vocab.allows("te", "x") and vocab.complete("OWNER")


def test_a_typed_value_is_searched_by_its_words_and_its_normal_form():
    assert searched_as("12/03/1921", "1921-03-12") == "12 03 1921 1921 03 12"
    assert searched_as("DUPONT", "DUPONT") == "dupont"


# ---------------------------------------------------------------- constrained decoding


def _probs(charset: Charset, frames: list[dict[str, float]]) -> np.ndarray:
    """Per-frame probabilities: the named characters (``""`` the blank), the rest spread thin."""
    p = np.full((len(frames), charset.num_classes), 1e-6, np.float32)
    for t, row in enumerate(frames):
        for ch, v in row.items():
            p[t, 0 if ch == "" else charset.encode(ch)[0]] = v
    return p / p.sum(axis=1, keepdims=True)


def test_a_date_field_reads_digits_where_letters_look_likelier():
    cs = Charset()
    # "l2/O3/1921" to a free reader: l and O beat 1 and 0 by a little.
    frames = [{"l": 0.55, "1": 0.4}, {"": 0.9}, {"2": 0.9}, {"/": 0.9}, {"O": 0.6, "0": 0.35}, {"3": 0.9}, {"/": 0.9}]
    frames += [{"1": 0.9}, {"": 0.9}, {"9": 0.9}, {"2": 0.9}, {"1": 0.9}]
    probs = _probs(cs, frames)
    assert greedy_decode(probs, cs).text == "l2/O3/1921"
    fit = constrained_decode(probs, cs, FieldType("date").constraint)
    assert fit is not None and fit.text == "12/03/1921"
    assert len(fit.char_probs) == len(fit.text)


def test_a_complete_reading_is_not_pruned_for_longer_ones_that_cannot_complete():
    cs = Charset()
    # "ABC" leads all the way, but only "AB" and "ABCE" are entries, and no E is written.
    probs = _probs(cs, [{"A": 0.9}, {"B": 0.9}, {"C": 0.6, "": 0.35}, {"": 0.9}])
    fit = constrained_decode(probs, cs, Vocabulary(["AB", "ABCE"]), beam_width=1)
    assert fit is not None and fit.text == "AB"


def test_a_reading_no_value_of_the_kind_fits_is_none_not_invented():
    cs = Charset()
    probs = _probs(cs, [{"M": 0.9}, {"o": 0.9}, {"s": 0.9}, {"t": 0.9}])
    assert constrained_decode(probs, cs, FieldType("date").constraint) is None
    assert beam_decode(probs, cs).text == "Most"  # the free reader still reads it


# ---------------------------------------------------------------- acceptance


def test_binomial_tail():
    assert binomial_cdf(0, 10, 0.5) == pytest.approx(0.5**10)
    assert binomial_cdf(3, 10, 0.3) == pytest.approx(0.6496107184, rel=1e-9)
    assert binomial_cdf(10, 10, 0.3) == 1.0
    assert needed(0.02, 0.1) == 114


def test_the_threshold_keeps_its_promise_on_new_fields():
    """Over many calibration draws, the error rate among accepted *new* fields exceeds alpha in
    at most about delta of them."""
    rng = np.random.default_rng(0)

    def draw(n):
        conf = rng.uniform(0, 1, n)
        return conf, rng.uniform(0, 1, n) < conf**0.15  # right more often when surer

    alpha, delta, broken, shares = 0.05, 0.1, 0, []
    for _ in range(200):
        acc = calibrate(*draw(600), alpha=alpha, delta=delta)
        conf, ok = draw(20000)
        taken = acc.threshold is not None and conf >= acc.threshold
        if acc.threshold is not None:
            broken += (1 - ok[taken].mean()) > alpha
            shares.append(taken.mean())
    assert broken <= 0.1 * 200 + 10
    assert np.mean(shares) > 0.1  # it does accept fields


def test_each_type_gets_its_own_threshold():
    rng = np.random.default_rng(1)
    n = 400
    ticks = rng.uniform(0.9, 1.0, n)  # sure and right
    dates = rng.uniform(0.0, 1.0, n)  # right only when sure
    acc = calibrate_kinds(
        ["checkbox"] * n + ["date"] * n,
        [*ticks, *dates],
        [True] * n + list(rng.uniform(0, 1, n) < dates**4),
        alpha=0.05,
    )
    assert acc.kinds["checkbox"].threshold is not None and acc.kinds["checkbox"].threshold <= 0.91
    assert acc.kinds["date"].threshold is None or acc.kinds["date"].threshold > 0.9
    assert acc.accepts("checkbox", 0.95) and not acc.accepts("name", 0.99)
    assert type(acc).from_dict(acc.to_dict()) == acc


def test_too_few_held_out_fields_accept_nothing():
    acc = calibrate([0.99] * 50, [True] * 50, alpha=0.02)
    assert acc.threshold is None and not acc.accepts(0.999)
    acc = calibrate([0.99] * 200, [True] * 200, alpha=0.02, valid=[False] * 200)
    assert acc.threshold is None  # a value that does not fit its kind is never accepted


# ---------------------------------------------------------------- matching and cutting


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_scanned_copy_matches_its_template_and_its_boxes_land_on_the_page(templates, hands, seed):
    rng = np.random.default_rng(seed)
    design = DESIGNS[seed % 3]
    filled = sf.fill(design, hands, rng)
    scanned, m = sf.scan(filled.image, rng, max_turn=3.0, transform=True)
    match = match_template(scanned, templates)
    assert match is not None and match.template.name == design
    form = cut_fields(scanned, match)
    for cut in form.cuts:
        x0, y0, x1, y1 = cut.field.box.to_list()
        corners = cv2.transform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32), m)[0]
        want = [*corners.min(axis=0), *corners.max(axis=0)]
        assert np.allclose(cut.page_box.to_list(), want, atol=5), cut.field.name


def test_pages_that_are_no_form_match_no_template(templates):
    from benchmarks.synth import compose_page
    from tests.fixtures import text_image

    rng = np.random.default_rng(3)
    texts = ["Dear Sir, I write to you", "about the house in the lane", "and the rent of the garden"]
    letter = compose_page([text_image(t) for t in texts], texts, rng, size=(1240, 1754)).image
    assert match_template(letter, templates) is None
    assert match_template(np.full((1754, 1240), 235, np.uint8), templates) is None


def test_a_blank_copy_has_every_field_empty_and_every_box_unticked(templates):
    """The print (box lines, labels, dotted guides) is taken out: nothing is left to read."""
    rng = np.random.default_rng(4)
    for design in DESIGNS:
        scanned = sf.scan(sf.blank(design), rng)
        match = match_template(scanned, templates)
        assert match is not None and match.template.name == design
        cuts = cut_fields(scanned, match).cuts
        assert [c.field.name for c in cuts if c.crop is not None] == []
        assert all(not c.ticked for c in cuts if c.field.kind == "checkbox")


def test_written_fields_are_cut_and_ticks_told_apart(templates, hands):
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(4):
        filled = sf.fill("census", hands, rng, empty=0.0)
        scanned = sf.scan(filled.image, rng)
        match = match_template(scanned, templates)
        assert match is not None
        for cut in cut_fields(scanned, match).cuts:
            if cut.field.kind == "checkbox":
                assert cut.ticked == (filled.truth[cut.field.name] == "yes")
                seen.add(filled.truth[cut.field.name])
            else:
                assert cut.crop is not None and cut.crop.shape[0] >= 10, cut.field.name
    assert seen == {"yes", "no"}


def test_template_fields_are_checked():
    image = sf.blank("census")
    with pytest.raises(ValueError, match="not inside"):
        FormTemplate("t", image, load_fields([{"name": "a", "type": "text", "box": [10, 10, 5000, 40]}]))
    with pytest.raises(ValueError, match="must differ"):
        load_fields([{"name": "a", "box": [1, 1, 9, 9]}, {"name": "a", "box": [1, 1, 9, 9]}])
    with pytest.raises(ValueError, match="box"):
        load_fields([{"name": "a", "box": "here"}])


# ---------------------------------------------------------------- through htr


def test_forms_through_htr(tmp_path, monkeypatch, capsys, hands):
    """Register a template, process a filled copy and a letter, export the form as a CSV row and
    JSON; calibrate the template on reviewed fields."""
    from worker.cli import main

    monkeypatch.setenv("HTR_DATABASE_URL", f"sqlite:///{tmp_path / 'h.sqlite'}")
    monkeypatch.setenv("HTR_STORE_URL", f"file://{tmp_path / 'store'}")
    blank = tmp_path / "census.png"
    cv2.imwrite(str(blank), sf.blank("census"))
    spec = tmp_path / "census.json"
    spec.write_text(json.dumps({"fields": sf.field_spec("census")}))
    assert main(["template", "add", "census", str(blank), "--fields", str(spec)]) == 0
    assert main(["template", "add", "census", str(blank), "--fields", str(spec)]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), np.full((1754, 1240), 240, np.uint8))
    assert main(["template", "add", "plain", str(plain), "--fields", str(spec)]) == 2
    assert "too plain" in capsys.readouterr().err

    rng = np.random.default_rng(6)
    filled = sf.fill("census", hands, rng, empty=0.0)
    page = tmp_path / "copy.png"
    cv2.imwrite(str(page), sf.scan(filled.image, rng))
    assert main(["process", str(page)]) == 0
    capsys.readouterr()
    assert main(["export", "1", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:4] == ["document", "page", "row", "template"]
    assert rows[0][4:] == [s["name"] for s in sf.field_spec("census")]
    assert len(rows) == 2 and rows[1][3] == "census"
    assert rows[1][rows[0].index("married")] == filled.truth["married"]
    assert main(["export", "1", "--format", "json"]) == 0
    fields = json.loads(capsys.readouterr().out)["pages"][0]["fields"]
    assert {f["field"]: f["kind"] for f in fields} == {s["name"]: s["type"] for s in sf.field_spec("census")}
    assert all(f["template"] == "census" and f["accepted"] is False for f in fields)  # not calibrated: all reviewed
    assert main(["show", "1"]) == 0  # the written values are the page's lines (7 fields, a checkbox not)
    assert len([ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]) == 7


def test_a_template_registered_without_fields_gets_them_drawn_later(tmp_path, monkeypatch, capsys):
    from worker.cli import main
    from worker.db import make_engine, session_factory
    from worker.io.store import LocalStore
    from worker.pipeline.templates import TemplateError, load_templates, set_fields

    url, store_dir = f"sqlite:///{tmp_path / 'h.sqlite'}", tmp_path / "store"
    monkeypatch.setenv("HTR_DATABASE_URL", url)
    monkeypatch.setenv("HTR_STORE_URL", f"file://{store_dir}")
    blank = tmp_path / "census.png"
    cv2.imwrite(str(blank), sf.blank("census"))
    assert main(["template", "add", "census", str(blank)]) == 0
    assert "draw its fields in the web app: /templates/census" in capsys.readouterr().out
    sessions, store = session_factory(make_engine(url)), LocalStore(store_dir)
    with sessions() as s:
        assert load_templates(s, store) == []  # no fields: no page is matched to it (read as free text)
        with pytest.raises(TemplateError, match="not inside"):
            set_fields(s, store, "census", [{"name": "a", "type": "text", "box": [10, 10, 5000, 40]}])
        with pytest.raises(TemplateError, match="has no name"):
            set_fields(s, store, "census", [{"name": " ", "type": "text", "box": [10, 10, 50, 40]}])
        with pytest.raises(TemplateError, match="vocabulary"):
            set_fields(s, store, "census", [{"name": "tenure", "type": "choice", "box": [10, 10, 50, 40]}])
        with pytest.raises(TemplateError, match="no template"):
            set_fields(s, store, "nope", [])
        set_fields(s, store, "census", sf.field_spec("census"))
        s.commit()
    with sessions() as s:
        (tpl,) = load_templates(s, store)
        assert [f.name for f in tpl.fields] == [f["name"] for f in sf.field_spec("census")]


def test_calibrating_a_template_accepts_its_sure_fields(db_url, tmp_path):
    from tests.fixtures import seed_document
    from worker.db import Field, Page, make_engine, session_factory, upgrade
    from worker.db.field_review import review_field
    from worker.io.store import LocalStore
    from worker.pipeline.templates import add_template, calibrate_template

    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    store = LocalStore(tmp_path / "store")
    doc = seed_document(sessions, store, tmp_path / "p.png", [[("x", 0.9)]])
    rng = np.random.default_rng(7)
    with sessions() as s:
        add_template(s, store, "census", sf.blank("census"), sf.field_spec("census"))
        page = s.query(Page).filter_by(document_id=doc).one()
        for _ in range(400):
            conf = float(rng.uniform(0.5, 1.0))
            s.add(Field(document_id=doc, page_id=page.id, template="census", field="born", kind="date", value="12/03/1921",
                        read_value="12/03/1921", read_confidence=conf, confidence=conf, x0=0, y0=0, x1=9, y1=9))  # fmt: skip
        s.commit()
        ids = [f.id for f in s.query(Field).order_by(Field.id)]
        for i, fid in enumerate(ids[:300]):  # people check 300: the unsure ones were often wrong
            f = s.get(Field, fid)
            wrong = f.read_confidence < 0.75 and i % 3 == 0
            review_field(s, fid, "rita", "13/03/1921" if wrong else f.value)
        s.commit()
        f = s.get(Field, ids[0])
        assert f.parsed in ("1921-03-12", "1921-03-13") and f.read_value == "12/03/1921"
        acc = calibrate_template(s, "census", alpha=0.02)
        s.commit()
        t = acc.kinds["date"].threshold
        assert t is not None and 0.74 <= t <= 0.8
        open_ = s.query(Field).filter(Field.reviewed_at.is_(None)).all()
        assert open_ and all(f.accepted == (f.confidence >= t) for f in open_)
    engine.dispose()


# ---------------------------------------------------------------- forms without a template


def test_a_boxed_form_is_read_box_by_box_under_its_printed_labels(hands):
    """No template registered: answer boxes found by their edges, each named by the printed label
    above it (a checkbox: beside it), Tesseract reading the labels."""
    from benchmarks.forms import key_form
    from segmentation import segment_page
    from segmentation.labels import boxed_form

    rng = np.random.default_rng(8)
    for design in DESIGNS:
        filled = sf.fill(design, hands, rng, empty=0.0)
        scanned = sf.scan(filled.image, rng)
        layout = segment_page(scanned)
        form = boxed_form(scanned, layout.deskewed, layout.angle)
        assert form is not None and form.template == ""
        got = {key_form(c.field.name): c for c in form.cuts}
        specs = sf.DESIGNS[design][2]
        named = [s for s in specs if key_form(s.label) in got]
        assert len(named) >= len(specs) - 1, (design, sorted(got))
        missed = []  # a test font now and then draws a word too faint to tell from the paper
        for s in named:
            cut = got[key_form(s.label)]
            assert cut.field.kind == ("checkbox" if s.kind == "checkbox" else "text")
            if s.kind == "checkbox":
                assert cut.ticked == (filled.truth[s.name] == "yes")
            elif cut.crop is None:
                missed.append(s.name)
        assert len(missed) <= 1, missed


def test_a_page_that_is_no_form_has_no_boxed_fields():
    from benchmarks.synth import compose_page
    from segmentation import segment_page
    from segmentation.labels import boxed_form
    from tests.fixtures import text_image

    rng = np.random.default_rng(9)
    texts = ["Dear Sir, I write to you", "about the house in the lane", "and the rent of the garden"]
    page = compose_page([text_image(t) for t in texts], texts, rng, size=(1240, 1754), artefacts=("boxes",)).image
    layout = segment_page(page)
    assert boxed_form(page, layout.deskewed, layout.angle) is None  # boxed lines with no printed labels


def test_handwriting_is_keyed_by_the_label_beside_or_above_it():
    from recognition.document import Line, Word
    from recognition.pages import label_fields
    from segmentation.labels import Label, assign
    from segmentation.layout import Box

    labels = [
        Label("Nom :", Box(100, 100, 180, 130)),
        Label("Adresse", Box(100, 300, 220, 330)),
        Label("Né le", Box(600, 100, 680, 130)),
    ]
    lines = [Box(200, 95, 500, 135), Box(110, 345, 600, 390), Box(700, 98, 900, 132), Box(100, 700, 400, 740)]
    assert assign(labels, lines) == [0, 1, 2, None]
    merged = Line(
        "Nom : DUPONT Jean",
        (100, 95, 500, 135),
        0.8,
        [Word("Nom", (100, 100, 150, 130), 0.9), Word(":", (160, 100, 175, 130), 0.9),
         Word("DUPONT", (200, 95, 350, 135), 0.8), Word("Jean", (360, 95, 500, 135), 0.6)],
    )  # fmt: skip
    (field,) = label_fields(labels, [merged])
    assert (field.key, field.value, field.label) == ("Nom", "DUPONT Jean", "Nom :")
    assert field.box == (200, 95, 500, 135) and field.template is None


def test_a_form_page_travels_between_workers(templates, hands):
    """A form page's work (fields, types, crops) serializes for the queue and reads back the same."""
    from worker.io.documents import PageImage
    from worker.pipeline.pages import PageWork, segment

    rng = np.random.default_rng(10)
    filled = sf.fill("matricule", hands, rng, empty=0.0)
    page = PageImage(0, sf.scan(filled.image, rng), 150)
    work = segment(page, templates=templates)
    assert work.form and work.form["template"] == "matricule"
    back = PageWork.from_bytes(work.to_bytes())
    assert json.loads(json.dumps(work.form)) == back.form
    assert len(back.crops) == len(work.crops) >= 6 and all(a.shape == b.shape for a, b in zip(back.crops, work.crops))
    kinds = {f["name"]: f["type"] for f in back.form["fields"]}
    assert kinds == {s["name"]: s["type"] for s in sf.field_spec("matricule")}
    assert [t.kind for t in back.types] == [f["type"] for f in back.form["fields"] if f["crop_box"]]
    unmatched = segment(page, templates=templates[:1])  # not this form's template: read by its labelled boxes
    assert unmatched.form and unmatched.form["template"] == ""


def test_the_fields_training_set_writes_what_forms_hold():
    """``fonts-fields``: dates, numbers and amounts as a form's fields hold them, names in capitals."""
    from training.datasets import open_dataset

    ds = open_dataset("fonts-fields:val")
    texts = [it.text for it in ds.items]
    kinds = {k: sum(parse(FieldType(k), t) is not None for t in texts) / len(texts) for k in ("date", "number", "amount", "name")}
    assert kinds["date"] > 0.15 and kinds["number"] > 0.15 and kinds["amount"] > 0.2 and kinds["name"] > 0.15, kinds
    image, text = ds.load(0)
    assert image.ndim == 2 and image.shape[0] >= 10 and text == texts[0]
