"""Write MODEL_CARD.md for a model bundle from its metadata and measured figures.

    python scripts/model_card.py recognition/models/htr-base \
        --eval runs/eval-greedy.json --decoders greedy=runs/eval-greedy150.json \
        beam=runs/eval-beam150.json beam+lexicon=runs/eval-beamlex150.json \
        --bench runs/bench.json --config training/configs/htr-base.yaml

Every figure in the card comes from one of those files; the commands that made
them are printed in the card.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def table(rows: list[list], head: list[str]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def pct(v) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "–"


def font_lines(cfg: dict) -> list[str]:
    """The font and form-field sources, when the config trains or validates on them."""
    specs = [str(t.get("spec", "")) for t in cfg.get("train") or []] + [str(v) for v in cfg.get("val") or []]
    out = []
    if any(s.startswith("fonts") for s in specs):
        from training.fonts.catalogue import CATALOGUE

        out += [
            "- **Handwriting fonts** (`fonts:*` lines, `fonts-words:*` tight word crops, `fonts-fields:*` what a form's "
            "fields hold: dates, numbers, amounts, names in capitals; synthetic): "
            f"{len(CATALOGUE)} handwriting-style fonts, all under the SIL Open Font License 1.1, from npm",
            "  `@fontsource/*` (installed by `scripts/install-fonts.sh`, licence file in each package, none",
            "  committed). Text from IAM-OnDB train transcriptions and `wordfreq`'s English word list, with",
            "  names, capitalised and ALL-CAPS words, digits, dates, amounts and punctuation",
            "  (`training/fonts/text.py`); drawn glyph by glyph with jitter and scanned like the strokes",
            "  (`training/fonts/render.py`). Faces without lowercase are given capitals only. Split by family:",
        ]
        for split in ("train", "val", "test"):
            names = sorted(e.package for e in CATALOGUE if e.split == split)
            out.append(f"  - {split} ({len(names)}): " + ", ".join(names))
    if any(s.startswith("form-names") for s in specs):
        out += [
            "- **form-names** (real scans): 1,193 crops of handwritten names in capitals from the name fields",
            '  of scanned French forms (the public "Handwriting Recognition" form-field set; licence not',
            "  stated: research and evaluation use, not redistributed, not in this repository). Printed field",
            "  labels (`NOM :`, `PRENOM :`) inside many crops are not part of the text. Split by file number",
            "  in blocks: train 0001-0840, val 0841-1020, test 1021-1200 (`training/datasets/form_names.py`).",
        ]
    return out


REAL_PAGE_CREDITS = {
    "copiste": '"Copiste d\'un jour" (BAnQ, 2024; banq-dcn/Copiste-d-un-jour): Wikipedia summaries copied by ~185 volunteers, modern Québécois French; split by text number (one writer per text)',
    "poilus": '"Testaments de Poilus" (Archives nationales, CREMMA / HTR-United): soldiers\' wills 1914-1918, French; split by page',
    "stanford": '"Memorials of Jane Lathrop Stanford" (PSL / Chartes students, HN2021): English letters of 1905; split by page',
    "riant": '"Lectaurep" repertoires (Archives nationales / Inria, HTR-United): a Paris notary\'s register of the 1830s; split by page',
    "peraire": '"Peraire ground truth" (alix-tz): one writer\'s notebooks; kept out of training (the new-hand benchmark), its `test_` pages measured',
}


def real_page_lines(cfg: dict) -> list[str]:
    """The real-pages sources a config trains or validates on, credited (CC-BY 4.0)."""
    specs = [str(t.get("spec", "")) for t in cfg.get("train") or []] + [str(v) for v in cfg.get("val") or []]
    used = [k for k in REAL_PAGE_CREDITS if any(s.split(":")[0] == k for s in specs)] + ["peraire"]
    out = [
        "- **Real scanned pages** with line ground truth (ALTO v4 from eScriptorium; all under CC-BY 4.0),",
        "  read by `training/datasets/layout_xml.py`, lines cut from their polygons by the crop reading uses",
        "  (`segmentation/crop.py`; a quarter of training crops as the polygon's whole box). Transcription",
        "  markup resolved as in `training/datasets/real_pages.py` (crossed-out and unreadable passages, formula",
        "  source and hand-written page ids left out; `M^r` → `Mr`); splits by `crc32(key) % 10` (0 test, 1 val):",
    ]
    out += [f"  - `{k}`: {REAL_PAGE_CREDITS[k]}." for k in dict.fromkeys(used)]
    return out


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--eval", required=True)
    ap.add_argument("--decoders", nargs="*", default=[])
    ap.add_argument("--bench")
    ap.add_argument("--robustness", help="htr evaluate JSON on SPEC+neighbours sets")
    ap.add_argument("--pages", help="htr evaluate-pages JSON (whole pages through segmentation and reading)")
    ap.add_argument("--pages-greedy", help="the same with HTR_DECODER=greedy, shown beside them")
    ap.add_argument("--config", default="training/configs/htr-base.yaml")
    ap.add_argument("--notes", default="")
    ap.add_argument("--train-command", default="", help="how the weights were trained (lines), instead of htr train --config")
    args = ap.parse_args()

    return args


def _inputs(args: argparse.Namespace) -> dict:
    """Everything the card says, read from the bundle, the config and the measured files."""
    model = Path(args.model)
    meta = json.loads((model / "model.json").read_text())
    m = meta["metrics"]
    ev = json.loads(Path(args.eval).read_text())
    arch = meta["model"]
    stride = 1
    for _, pw in arch["pools"]:
        stride *= pw
    pre = meta["preprocess"]

    eval_rows = [
        [f"`{k}`", v["samples"], pct(v["cer"]), pct(v.get("cer_case_insensitive")), pct(v["wer"]), pct(v["exact_match"])]
        for k, v in ev.items()
    ]
    slice_rows = [
        [f"`{k}`"]
        + [
            f"{pct(v['slices'][s]['cer'])} ({v['slices'][s]['words']})" if s in v.get("slices", {}) else "–"
            for s in ("caps", "allcaps", "punct")
        ]
        for k, v in ev.items()
        if v.get("slices")
    ]
    dec_rows = []
    for spec in args.decoders:
        name, path = spec.split("=", 1)
        for ds, v in json.loads(Path(path).read_text()).items():
            dec_rows.append([name, f"`{ds}`", v["samples"], pct(v["cer"]), pct(v["wer"]), f"{v['seconds']:.1f} s"])

    bench = json.loads(Path(args.bench).read_text()) if args.bench else None
    cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    rob_rows = []
    if args.robustness:
        for k, v in json.loads(Path(args.robustness).read_text()).items():
            clean = ev.get(k.removesuffix("+neighbours"), {}).get("cer")
            rob_rows.append([f"`{k}`", v["samples"], pct(v["cer"]), pct(clean), pct(v["wer"])])
    train = cfg.get("train") or []
    total = sum(float(t.get("weight", 1.0)) for t in train) or 1.0
    punct_trained = any(str(t.get("spec", "")).startswith("punctuation") for t in train)
    mix = ", ".join(f"`{t['spec']}` {100 * float(t.get('weight', 1.0)) / total:.0f}%" for t in train)
    fit = ""
    if pre.get("fit_limit") or pre.get("core_refine"):
        fit = (
            f" Ink taller than the output shrinks the writing only down to {pre.get('fit_limit', 0)} of the x-height"
            f" scale, then is clipped; x-height search sized to the band ({pre.get('core_refine', 0)} passes)"
            + (
                f" in crops at least {pre['refine_min_aspect']:g} times wider than tall (lines)."
                if pre.get("refine_min_aspect")
                else "."
            )
        )

    return {k: v for k, v in locals().items() if k != "args"}


def rel_rows(m: dict, key: str) -> list[list]:
    return [
        [
            r["bin"],
            r["words"],
            r["mean_confidence"] if r["mean_confidence"] is not None else "–",
            pct(r["share_exact"]) if r["share_exact"] is not None else "–",
        ]
        for r in m.get(key, [])
    ]


def _title(meta: dict) -> list[str]:
    """The model's name, what it reads and the bundle's files."""
    return [
        f"# Model card: {meta['name']} (version {meta['version']})",
        "",
        "A CRNN-CTC handwriting recognizer for single words and whole text lines (space is a character),",
        (
            f"English and French, {len(meta['charset']['chars'])} characters (Western European letters with accents)."
            if len(meta["charset"]["chars"]) > 90
            else "English, IAM character set."
        )
        + " Bundle format `"
        + meta["format"]
        + "`: `model.json` (charset,",
        "preprocessing, architecture, calibration, metrics), `model.weights.h5` ("
        + (
            "int8 per output channel with float32 scales, vectors float16, read by `recognition.bundle`;"
            if meta.get("weights_dtype") == "int8"
            else f"{meta.get('weights_dtype', 'float32')} Keras 3 weights;"
        ),
        "loads under the TensorFlow and JAX backends), `lm.json.gz` (character 6-gram), `lexicon.txt` (training words).",
        "",
    ]


def _data(args: argparse.Namespace, c: dict) -> list[str]:
    """The title, the bundle's files and the data it was trained and measured on."""
    meta, cfg, train, punct_trained, mix = (c["meta"], c["cfg"], c["train"], c["punct_trained"], c["mix"])
    return (
        _title(meta)
        + [
            "## Data",
            "",
            "- **IAM On-Line Handwriting Database** (line level, ~200 writers; texts `a01`, `a02` withheld): pen",
            "  trajectories rendered on the fly as scanned ink on paper (pen width and pressure, ink darkness,",
            "  slant, rotation, size, blur, paper texture, ruled lines, scan noise, binarization, JPEG) by",
            "  `training/render.py`. Splits as shipped: train 10,595 / val 578 / test 617 lines, split by source",
            "  text. Word crops are cut at pen-up gaps (`iam-ondb-words:*`); test lines whose rendering never",
            "  separates every word are left out of the word test set (see `skipped`).",
            "- **George Washington letters** (one 18th-century writer, binarized scans), standard fold `cv1`:",
            "  train 325 lines, valid 168, test 163; word images of the same lines. Character codes are mapped",
            "  as documented in `training/datasets/washington.py` (`s_lb` pound sign → `#`).",
            "- Texts as written in every reader: punctuation stays on its word (`Letters, Orders`; IAM-OnDB's",
            "  prompt spacing `Mr . Smith ,`, split-off clitics `Labour 's` and offline IAM's `Smith|,` tokens are joined,",
            "  `training/datasets/base.py:join_tokens`).",
            "- Licences: both sets are for non-commercial research and teaching only. Cite: M. Liwicki and",
            "  H. Bunke, *IAM-OnDB - an On-Line English Sentence Database Acquired from Handwritten Text on a",
            "  Whiteboard*, ICDAR 2005; A. Fischer, A. Keller, V. Frinken and H. Bunke, *Lexicon-Free",
            "  Handwritten Word Spotting Using Character HMMs*, Pattern Recognition Letters 33(7), 2012.",
            "- **Lone punctuation marks** (`punctuation:*`, synthetic"
            + ("" if punct_trained else "; measured, not trained on")
            + '): offline IAM crops every `.` `,` `"` `-`',
            "  as a word of its own, which pen-up gaps in IAM-OnDB almost never separate; marks are drawn from",
            "  stroke templates with random shape and size and rendered by the same renderer",
            "  (`training/datasets/punctuation.py`).",
        ]
        + font_lines(cfg)
        + (real_page_lines(cfg) if any(str(t.get("spec", "")).startswith(tuple(REAL_PAGE_CREDITS)) for t in train) else [])
        + [
            "- Training mix per batch (one source per batch): " + mix + ";",
            "  training-only augmentation (affine and elastic",
            "  warps, erosion/dilation, brightness/contrast, blur, noise"
            + (
                f"; ink of neighbouring lines over the top and bottom edges of {100 * cfg['neighbours']:.0f}% of crops)."
                if cfg.get("neighbours")
                else ")."
            ),
        ]
    )


def _configuration(args: argparse.Namespace, c: dict) -> list[str]:
    """The configuration, the training run and the greedy metrics."""
    meta, m, arch, stride, pre, eval_rows, cfg, fit = (
        c["meta"],
        c["m"],
        c["arch"],
        c["stride"],
        c["pre"],
        c["eval_rows"],
        c["cfg"],
        c["fit"],
    )
    return [
        "",
        "## Configuration",
        "",
        f"`{args.config}`. Input height {pre['height']} px after shared preprocessing (ink normalization,",
        "crop to ink, x-height scaled to a third of the height, words and lines alike)." + fit,
        f"Conv filters {arch['conv_filters']} with pools {arch['pools']} (width stride {stride}),",
        f"dense {2 * arch['rnn_units']}, {arch['rnn_layers']} × BiLSTM({arch['rnn_units']}),"
        + (
            f" then {arch['rnn_residual']} × residual BiLSTM({arch['rnn_units']}) (x + W·BiLSTM(x), W a dense"
            " layer started at zero),"
            if arch.get("rnn_residual")
            else ""
        ),
        f"{len(meta['charset']['chars']) + 1} outputs (charset + CTC blank), dropout {arch['dropout']}.",
        f"Adam {cfg.get('lr', 1e-3):g}, gradient clip 5, batch {cfg.get('batch_size', 16)}, {cfg.get('steps_per_epoch', 400)} steps per epoch; learning rate",
        (
            f"on a half cosine down to {cfg.get('min_lr', 1e-5):g} over {cfg.get('epochs')} epochs."
            if cfg.get("lr_schedule") == "cosine"
            else f"on a half cosine down to {cfg.get('min_lr', 1e-5):g} over the run's time window (`--time-limit`)."
            if cfg.get("lr_schedule") == "cosine-time"
            else f"multiplied by {cfg.get('lr_factor', 0.5)} after {cfg.get('lr_patience', 3)} epochs without validation-CER gain, early stop after {cfg.get('early_stop_patience', 8)}."
        )
        + (
            " Batch normalization frozen at the starting bundle's running statistics." if cfg.get("batchnorm") == "frozen" else ""
        ),
        "",
        "## Training",
        "",
        f"- Epochs: {m.get('epochs_trained')} (best validation CER {m.get('best_val_cer', 0):.4f} at epoch {m.get('best_epoch')}).",
        f"- Time: {m.get('training_time_s', 0) / 3600:.2f} h on {m.get('machine')}"
        + (" (CPU only, no GPU was lent)," if "," not in str(m.get("machine")) else ","),
        f"  Keras backend `{m.get('backend')}`.",
        "",
        "## Metrics (greedy decoding, `htr evaluate`)",
        "",
        table(eval_rows, ["dataset", "samples", "CER", "CER (case-insensitive)", "WER", "exact match"]),
        "",
    ]


def _whole_pages(path: Path, greedy: Path | None = None) -> list[str]:
    """The whole-page figures of `htr evaluate-pages` (as `htr process` reads: beam search), per set
    and per kind of page; with ``greedy``, the same pages read greedily beside them."""
    beam = json.loads(path.read_text())
    other = json.loads(greedy.read_text()) if greedy else {}
    page_rows = []
    for k, v in beam.items():
        g = other.get(k) or {}
        for kind, r in [("all", v)] + sorted((v.get("by_kind") or {}).items()):
            rg = g if kind == "all" else (g.get("by_kind") or {}).get(kind, {})
            row = [f"`{k}`" + ("" if kind == "all" else f" ({kind})"), r["pages"], r["lines_true"]]
            row += [pct(r[x]) for x in ("detection_precision", "detection_recall", "page_cer", "page_cer_accents_folded")]
            row += [pct(rg.get("page_cer"))] if greedy else []
            row += [pct(r["line_cer"]), pct(r["line_cer_accents_folded"])]
            row += [pct(rg.get("line_cer"))] if greedy else []
            page_rows.append(row)
    head = ["set", "pages", "lines", "detection P", "detection R", "page CER", "(accents folded)"]
    head += ["(greedy)"] if greedy else []
    head += ["line CER", "(accents folded)"] + (["(greedy)"] if greedy else [])
    return [
        "## Whole pages (`htr evaluate-pages`)",
        "",
        "Each page through segmentation and reading as `htr process` does (beam search with the n-gram, the",
        "default decoder"
        + ("; greedy beside it" if greedy else "")
        + "). Detection: found lines matched one to one to the ground truth's",
        "at region IoU ≥ 0.5; page CER over the whole transcript in reading order; line CER over the",
        "ground-truth lines cut from their polygons and read alone:",
        "",
        table(page_rows, head),
        "",
    ]


def _measured(args: argparse.Namespace, c: dict) -> list[str]:
    """Slices, notes, whole pages, neighbouring ink and the decoders compared, where measured."""
    slice_rows, dec_rows, rob_rows = (c["slice_rows"], c["dec_rows"], c["rob_rows"])
    lines: list[str] = []
    if slice_rows:
        lines += [
            "Slices (`htr evaluate --slice caps,allcaps,punct`): CER over the reference words that start with a",
            "capital, are ALL-CAPS, or hold punctuation, each against the word aligned to it (word count in brackets):",
            "",
            table(slice_rows, ["dataset", "capitalised", "ALL-CAPS", "punctuation"]),
            "",
        ]
    if args.notes:
        lines += [args.notes, ""]
    if args.pages:
        lines += _whole_pages(Path(args.pages), Path(args.pages_greedy) if args.pages_greedy else None)
    if rob_rows:
        lines += [
            "## Ink of neighbouring lines (greedy, `htr evaluate SPEC+neighbours`)",
            "",
            "Real line and word boxes carry descenders of the line above and ascenders of the line below.",
            "Each test crop with strips of two other crops' ink over its top and bottom edges:",
            "",
            table(rob_rows, ["dataset", "samples", "CER", "CER without", "WER"]),
            "",
        ]
    if dec_rows:
        lines += [
            "## Decoders compared (first 150 samples of each set; time includes rendering and preprocessing)",
            "",
            table(dec_rows, ["decoder", "dataset", "samples", "CER", "WER", "time"]),
            "",
            "Beam search (width 12) uses the character 6-gram built from training text only (weight 0.4,",
            "insertion bonus 0.6: `recognition.predictor.DecoderOptions`); `--lexicon` also keeps letters of each",
            "word on a prefix of a training word.",
            "",
        ]
    return lines


def _calibration_and_speed(args: argparse.Namespace, c: dict) -> list[str]:
    m, bench = (c["m"], c["bench"])
    lines: list[str] = []
    lines += [
        "## Confidence calibration",
        "",
        "Word confidence = isotonic map of the raw score (geometric mean of the word's character",
        "probabilities, lowered by the weakest) fitted on validation words. Reliability on the held-out",
        "half of the validation words (map fitted on the other half), greedy decoding:",
        "",
        table(rel_rows(m, "reliability_held_out"), ["confidence", "words", "mean confidence", "share read exactly"]),
        "",
    ]
    if m.get("reliability_held_out_beam"):
        lines += [
            "Beam search has its own map (`calibration_beam`: the n-gram mends words whose characters",
            "scored low, so the same raw score means a likelier word), checked the same way:",
            "",
            table(rel_rows(m, "reliability_held_out_beam"), ["confidence", "words", "mean confidence", "share read exactly"]),
            "",
        ]
    if bench:
        lines += [
            "## Throughput",
            "",
            f"`python benchmarks/recognition.py` on {bench['cores']} cores, backend `{bench['backend']}`, batch size",
            f"{bench['batch_size']}, mean line width {bench['mean_line_width_px']} px: greedy **{bench['greedy_words_per_s']} words/s**,",
            f"**{bench['greedy_lines_per_s']} lines/s**; beam {bench['beam_words_per_s']} words/s, {bench['beam_lines_per_s']} lines/s;",
            f"peak RSS {bench['peak_rss_mb']} MB. Includes preprocessing and decoding.",
            "",
        ]
    return lines


def _reproduce(args: argparse.Namespace) -> list[str]:
    return [
        "## Reproduce",
        "",
        "```sh",
        *(
            args.train_command.splitlines()
            or [f"htr train --config {args.config}            # add --resume after an interruption"]
        ),
        "bash scripts/install-fonts.sh",
        "htr evaluate --slice caps,allcaps,punct iam-ondb:test iam-ondb-words:test washington:cv1/test \\",
        "    washington-words:cv1/test fonts:test fonts-words:test form-names:test punctuation:test \\",
        "    copiste:test poilus:test stanford:test peraire:test riant:test",
        "htr evaluate iam-ondb:test washington:cv1/test iam-ondb-words:test --limit 150 --decoder beam [--lexicon]",
        "htr evaluate iam-ondb:test+neighbours iam-ondb-words:test+neighbours washington:cv1/test+neighbours",
        "htr evaluate-pages copiste:test poilus:test stanford:test peraire:test   # and with HTR_DECODER=greedy",
        "python benchmarks/recognition.py",
        f"python scripts/model_card.py {args.model} --eval ... --decoders ... --bench ...",
        "# or all of the above but training: scripts/measure-model.sh " + str(args.model),
        "```",
        "",
        f"Card written {date.today().isoformat()}.",
        "",
    ]


def main() -> None:
    args = _args()
    c = _inputs(args)
    lines = _data(args, c) + _configuration(args, c) + _measured(args, c) + _calibration_and_speed(args, c) + _reproduce(args)
    (c["model"] / "MODEL_CARD.md").write_text("\n".join(lines))
    print(c["model"] / "MODEL_CARD.md")


if __name__ == "__main__":
    main()
