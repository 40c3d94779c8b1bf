"""Commands for people and their corrections: ``serve``, ``user``, ``token``, ``corrections``."""

from __future__ import annotations

import getpass
import json
import sys

from .common import sessions


def cmd_serve(args) -> int:
    import uvicorn

    from ..web.app import create_app

    app = create_app(args.settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=True)
    return 0


def _password(args) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        pw = getpass.getpass("password: ")
        if getpass.getpass("again: ") != pw:
            raise ValueError("the passwords differ")
    else:
        raise ValueError("give the password on standard input with --password-stdin")
    return pw


def cmd_user(args) -> int:
    from ..db.users import add_user, list_users, remove_user

    with sessions(args.settings)() as s:
        if args.action == "add":
            add_user(s, args.name, _password(args), args.role)
            s.commit()
            print(f"user {args.name} ({args.role}) added")
        elif args.action == "remove":
            remove_user(s, args.name)
            s.commit()
            print(f"user {args.name} removed")
        else:
            for u in list_users(s):
                print(json.dumps({"name": u.name, "role": u.role}) if args.json else f"{u.name}\t{u.role}")
    return 0


def cmd_token(args) -> int:
    from ..db.users import add_token

    with sessions(args.settings)() as s:
        token = add_token(s, args.user, args.name)
        s.commit()
    print(token)
    print("(shown once: send it as 'Authorization: Bearer TOKEN')", file=sys.stderr)
    return 0


def cmd_corrections(args) -> int:
    from datetime import datetime

    from ..export.training import export_corrections
    from ..io.store import open_store

    since = datetime.fromisoformat(args.since) if args.since else None
    with sessions(args.settings)() as s:
        manifest = export_corrections(s, open_store(args.settings.store_url), args.dir, args.document, since)
    print(json.dumps({k: v for k, v in manifest.items() if k != "lines"}, indent=2, default=str))
    return 0


def register(sub) -> None:
    sv = sub.add_parser("serve", help="the review web app (log in first: htr user add)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(func=cmd_serve)

    u = sub.add_parser("user", help="people who may log in: add NAME --role reviewer|admin --password-stdin, list, remove NAME")
    u.add_argument("action", choices=["add", "list", "remove"])
    u.add_argument("name", nargs="?")
    u.add_argument("--role", choices=["reviewer", "admin"], default="reviewer")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of standard input")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_user)

    t = sub.add_parser("token", help="API tokens for scripts: add USER [--name NAME]")
    t.add_argument("action", choices=["add"])
    t.add_argument("user")
    t.add_argument("--name", default="script")
    t.set_defaults(func=cmd_token)

    c = sub.add_parser("corrections", help="reviewed lines as training data: export DIR [--document ID] [--since DATE]")
    c.add_argument("action", choices=["export"])
    c.add_argument("dir")
    c.add_argument("--document", type=int)
    c.add_argument("--since", help="ISO date or time: lines reviewed from then on")
    c.set_defaults(func=cmd_corrections)
