"""``htr template``: registered form templates (add, list, show, calibrate)."""

from __future__ import annotations

import argparse
import json

from .common import safe, sessions, settings_of


def register(sub) -> None:
    p = sub.add_parser(
        "template",
        help="registered form templates: pages that are copies of one are read field by field",
        description="A template is a blank copy of a printed form and its fields (name, type, box). Pages of "
        "documents read afterwards that match one (shifted, turned a few degrees or scaled on the scan) "
        "are read field by field, each as its type allows; other pages are read as free handwriting.",
    )
    tsub = p.add_subparsers(dest="template_command", required=True)
    add = tsub.add_parser("add", help="register a form from a blank copy and its fields")
    add.add_argument("name", help="the template's name (letters, digits, '.', '_', '-')")
    add.add_argument("blank", help="the blank form: an image, or a PDF (its first page)")
    add.add_argument(
        "--fields",
        help="YAML or JSON: a list of fields, each {name, type, box: [x0, y0, x1, y1] in the blank's pixels} "
        "(types: text, name, date, number, amount, choice with a vocabulary, checkbox); without it, draw the "
        "fields on the form in the web app (htr serve: /templates/NAME) before pages are matched to it",
    )
    add.add_argument("--replace", action="store_true", help="replace a template of that name")
    add.set_defaults(func=cmd_add)
    ls = tsub.add_parser("list", help="the registered templates")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    show = tsub.add_parser("show", help="a template's fields and acceptance threshold")
    show.add_argument("name")
    show.set_defaults(func=cmd_show)
    cal = tsub.add_parser(
        "calibrate",
        help="set the confidence above which fields need no review, from the template's reviewed fields",
        description="The reviewed fields of the template's pages (the value as read against the value a person "
        "saved) give each field type the lowest confidence threshold at which at most ALPHA of accepted fields "
        "are wrong, with probability 1 - DELTA for all types together (Learn-then-Test, an exact binomial test "
        "per threshold). Fields not yet reviewed are then accepted or left for review by them, and so are "
        "fields read later.",
    )
    cal.add_argument("name")
    cal.add_argument("--alpha", type=float, default=0.02, help="the most wrong fields among accepted ones (default 0.02)")
    cal.add_argument("--delta", type=float, default=0.1, help="the chance the guarantee fails (default 0.1)")
    cal.set_defaults(func=cmd_calibrate)


def cmd_add(args: argparse.Namespace) -> int:
    from ..io.store import open_store
    from ..pipeline.templates import add_template, blank_image, read_fields_file

    settings = settings_of(args)
    fields = read_fields_file(args.fields) if args.fields else []
    image = blank_image(args.blank)
    with sessions(settings)() as session:
        row = add_template(session, open_store(settings.store_url), args.name, image, fields, replace=args.replace)
        session.commit()
        print(f"template {safe(row.name)}: {len(fields)} fields on a {row.width}x{row.height} form")
        if not fields:
            print(f"draw its fields in the web app: /templates/{safe(row.name)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ..db import Template

    with sessions(settings_of(args))() as session:
        rows = session.scalars(select(Template).order_by(Template.name)).all()
        items = [
            {
                "name": t.name,
                "fields": len(t.fields),
                "size": [t.width, t.height],
                "thresholds": {k: a.get("threshold") for k, a in (t.acceptance or {}).get("kinds", {}).items()},
                "updated_at": t.updated_at.isoformat(),
            }
            for t in rows
        ]
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no templates (htr template add NAME blank.png --fields fields.yaml)")
    for t in items:
        sure = {k: v for k, v in t["thresholds"].items() if v is not None}
        threshold = (
            "every field reviewed" if not sure else "accepted: " + ", ".join(f"{k} from {v:.3f}" for k, v in sorted(sure.items()))
        )
        print(f"{safe(t['name'])}: {t['fields']} fields, {t['size'][0]}x{t['size'][1]}, {threshold}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ..db import Template

    with sessions(settings_of(args))() as session:
        t = session.scalar(select(Template).where(Template.name == args.name))
        if t is None:
            raise ValueError(f"no template {args.name}")
        print(
            json.dumps(
                {"name": t.name, "size": [t.width, t.height], "fields": t.fields, "acceptance": t.acceptance},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..pipeline.templates import calibrate_template

    with sessions(settings_of(args))() as session:
        acc = calibrate_template(session, args.name, args.alpha, args.delta)
        session.commit()
    print(f"template {safe(args.name)}: {acc.calibrated_on} reviewed fields; at most {acc.alpha:.1%} wrong among "
          f"accepted fields of each type, with probability {1 - acc.delta:.0%}")  # fmt: skip
    for kind, a in sorted(acc.kinds.items()):
        if a.threshold is None:
            print(f"  {kind}: not accepted ({a.calibrated_on} reviewed fields do not show it at any threshold): all reviewed")
        else:
            print(f"  {kind}: accepted from confidence {a.threshold:.3f} ({a.accepted_share:.1%} of {a.calibrated_on}, "
                  f"{a.errors_accepted} of them wrong)")  # fmt: skip
    return 0
