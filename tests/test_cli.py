import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.fixtures import text_image, write_tiny_config
from training.train import TrainConfig, train

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def htr(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    train(TrainConfig.load(write_tiny_config(tmp)))
    return tmp / "model"


def test_recognize_prints_tsv_rows_in_input_order(tiny_model, tmp_path):
    paths = []
    for i, w in enumerate(["cat", "a longer line of text", "dog"]):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), text_image(w))
        paths.append(str(p))
    res = htr("recognize", *paths, "--model", str(tiny_model))
    assert res.returncode == 0, res.stderr
    rows = [r.split("\t") for r in res.stdout.splitlines()]
    assert [r[0] for r in rows] == paths
    assert all(len(r) == 3 and 0.0 <= float(r[2]) <= 1.0 for r in rows)


def test_recognize_reports_unreadable_files_and_keeps_going(tiny_model, tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), text_image("cat"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    res = htr("recognize", str(bad), str(good), "--model", str(tiny_model), "--decoder", "beam")
    assert res.returncode == 1
    rows = res.stdout.splitlines()
    assert rows[0] == f"{bad}\t\t0.0000" and rows[1].startswith(f"{good}\t")
    assert "bad.png: not a readable image" in res.stderr


def test_evaluate_prints_json_per_dataset(tiny_model, tmp_path):
    import json

    from training.datasets.folder import write_labels_folder

    folder = write_labels_folder(
        tmp_path / "eval",
        [("a.png", text_image("Cat"), "Cat"), ("b.png", text_image("DOG,"), "DOG,"), ("c.png", text_image("a cat"), "a cat")],
    )
    res = htr("evaluate", str(folder), "--model", str(tiny_model), "--slice", "caps,allcaps", "--slice", "punct")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)[str(folder)]
    assert out["samples"] == 3 and 0.0 <= out["exact_match"] <= 1.0
    assert out["cer_case_insensitive"] <= out["cer"]
    assert {k: v["words"] for k, v in out["slices"].items()} == {"caps": 2, "allcaps": 1, "punct": 1}
    bad = htr("evaluate", str(folder), "--model", str(tiny_model), "--slice", "digits")
    assert bad.returncode != 0 and "unknown slice digits" in bad.stderr


def test_missing_model_is_a_clear_error(tmp_path):
    res = htr("recognize", "x.png", "--model", str(tmp_path / "nope"))
    assert res.returncode != 0
    assert "model.json missing" in res.stderr


def test_documents_and_crops_are_read_with_beam_and_evaluate_measures_greedy(monkeypatch):
    from worker.cli import _decoder, build_parser

    monkeypatch.delenv("HTR_DECODER", raising=False)
    parser = build_parser()
    rec = parser.parse_args(["recognize", "a.png"])
    proc = parser.parse_args(["process", "a.pdf"])
    ev = parser.parse_args(["evaluate", "iam-ondb:test"])
    assert _decoder(rec) == "beam" and _decoder(proc) == "beam"  # what people read: accuracy first
    assert _decoder(ev, "greedy") == "greedy"  # the model card's yardstick
    monkeypatch.setenv("HTR_DECODER", "greedy")
    assert _decoder(rec, "beam") == "greedy" and _decoder(proc) == "greedy"
    assert _decoder(parser.parse_args(["recognize", "--decoder", "beam", "a.png"]), "beam") == "beam"
    monkeypatch.setenv("HTR_DECODER", "beam")
    assert _decoder(ev, "greedy") == "beam"


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """A database with one document read (the sample line) and one failed."""
    import os

    tmp = tmp_path_factory.mktemp("q")
    (tmp / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    env = {**os.environ, "HTR_DATABASE_URL": f"sqlite:///{tmp / 'h.sqlite'}", "HTR_STORE_URL": f"file://{tmp / 'store'}"}
    res = htr("process", str(ROOT / "examples" / "line.png"), str(tmp / "bad.png"), env=env)
    assert res.returncode == 1 and "document 1 done" in res.stdout and "document 2 failed" in res.stdout, res.stdout + res.stderr
    return tmp, env


def test_the_cli_stderr_carries_no_backend_start_up_noise(processed):
    _, env = processed
    res = htr("recognize", str(ROOT / "examples" / "line.png"), env=env)
    assert res.returncode == 0 and "There are two basic points" in res.stdout
    for noise in ("oneDNN", "cuInit", "absl", "cuda", "cpu_feature_guard", "I0000", "E0000"):
        assert noise not in res.stderr, res.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["search", "x", "--limit", "99999999999999999999"], "give 1 to 10000"),
        (["search", "x", "--limit", "-1"], "give 1 to 10000"),
        (["show", str(2**63)], "document ids run from 1 to"),
        (["export", "99999999999999999999"], "document ids run from 1 to"),
        (["show", "abc"], "not a document id"),
    ],
)
def test_query_arguments_are_checked_with_clear_messages(processed, args, message):
    _, env = processed
    res = htr(*args, env=env)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_export_errors_are_one_line_and_folders_are_made(processed):
    tmp, env = processed
    res = htr("export", "2", "--format", "pagexml", env=env)  # the failed document
    assert res.returncode == 2 and "document 2 has no pages" in res.stderr and "Traceback" not in res.stderr
    res = htr("export", "1", "--format", "txt", "--output", str(tmp / "newdir") + "/", env=env)
    assert res.returncode == 0 and (tmp / "newdir").is_dir() and len(list((tmp / "newdir").iterdir())) == 1
    (tmp / "plain").write_text("x")
    bad_targets = [
        ("/dev/full", "txt"),
        (str(tmp / "plain" / "inside.txt"), "txt"),
        (str(tmp / "plain") + "/", "pagexml"),
        (str(tmp / ("n" * 300 + ".txt")), "txt"),
    ]
    for target, fmt in bad_targets:
        res = htr("export", "1", "--format", fmt, "--output", target, env=env)
        assert res.returncode == 1 and "htr export: cannot write" in res.stderr and "Traceback" not in res.stderr, (
            target,
            res.stderr,
        )
        assert len(res.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def two_pages(tmp_path_factory):
    from tests.test_pipeline import make_pdf

    return make_pdf(tmp_path_factory.mktemp("pdf") / "two.pdf", pages=2)


def test_segment_reads_pdfs_page_by_page(two_pages, tmp_path):
    import json

    res = htr("segment", str(two_pages), "--json")
    assert res.returncode == 0, res.stderr
    pages = [json.loads(r) for r in res.stdout.splitlines()]
    assert [p["page"] for p in pages] == [1, 2] and all(len(p["lines"]) == 4 for p in pages)
    res = htr("segment", str(two_pages), "--overlay", str(tmp_path / "boxes.png"))
    assert res.returncode == 0 and res.stdout.startswith("page 1: 4 lines, ") and "\npage 2: 4 lines, " in res.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"boxes-p1.png", "boxes-p2.png"}
    res = htr("segment", str(two_pages), "--page", "2", "--overlay", str(tmp_path / "second.png"))
    assert res.returncode == 0 and res.stdout.startswith("page 2: 4 lines") and (tmp_path / "second.png").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["segment", "nowhere/missing.png"], "htr segment: nowhere/missing.png: no such file"),
        (["segment", "README.md"], "htr segment: README.md: unsupported file type"),
        (["segment", "{pdf}", "--page", "3"], "page 3: the document has 2 pages"),
        (["segment", "{pdf}", "--page", "0"], "pages are numbered from 1"),
    ],
)
def test_segment_says_what_is_wrong_in_one_line(two_pages, args, message):
    res = htr(*[a.format(pdf=two_pages) for a in args])
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2  # argparse adds its usage line


def test_output_into_a_closed_pipe_ends_quietly(two_pages):
    """`htr ... | head`: the reader goes away; the command stops without a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "segment", str(two_pages), "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # gone before the first line is written
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141  # as a program killed by SIGPIPE
    assert err == "", err
    shell = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m worker.cli segment {two_pages} --json | head -c 1 >/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shell.returncode == 0 and shell.stderr == "", shell.stderr
