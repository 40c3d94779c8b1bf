"""Commands for people and their corrections: ``serve``, ``user``, ``token``, ``corrections``."""

from __future__ import annotations

import getpass
import json
import sys

from .common import sessions


def cmd_serve(args) -> int:
    import socket

    import uvicorn

    from ..web.app import create_app

    app = create_app(args.settings)
    # The socket is bound here, so the URL printed is the one served (--port 0: a free port).
    family, kind, proto, _name, address = socket.getaddrinfo(
        args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        print(f"htr serve: cannot listen on {args.host} port {args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    print(f"htr serve: listening on http://{f'[{host}]' if ':' in host else host}:{port}/ (Ctrl-C stops)", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level=args.log_level, proxy_headers=True)
    uvicorn.Server(config).run(sockets=[sock])
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
    from ..db.users import add_user, list_users, password_problem, remove_user, set_role

    if args.action != "list" and not (args.name or "").strip():
        raise ValueError(
            f"which user? htr user {args.action} NAME" + (" --role reviewer|admin" if args.action != "remove" else "")
        )
    with sessions(args.settings)() as s:
        if args.action == "add":
            password = _password(args)
            problem = password_problem(args.name.strip(), password)
            if problem:  # before the database is touched
                raise ValueError(problem)
            role = args.role or "reviewer"
            add_user(s, args.name, password, role)
            s.commit()
            print(f"user {args.name} ({role}) added")
        elif args.action == "remove":
            remove_user(s, args.name)
            s.commit()
            print(f"user {args.name} removed (with their sessions and tokens)")
        elif args.action == "role":
            if not args.role:
                raise ValueError(f"which role? htr user role {args.name} --role reviewer|admin")
            set_role(s, args.name, args.role)
            s.commit()
            print(f"user {args.name} is now {args.role}")
        else:
            for u in list_users(s):
                print(json.dumps({"name": u.name, "role": u.role}) if args.json else f"{u.name}\t{u.role}")
    return 0


def cmd_token(args) -> int:
    from ..db.users import TOKEN_DAYS, add_token, list_tokens, revoke_token

    with sessions(args.settings)() as s:
        if args.action == "add":
            if not args.target:
                raise ValueError("whose token? htr token add USER [--name NAME] [--days N | --days never]")
            days = None if args.days == "never" else TOKEN_DAYS if args.days is None else _whole(args.days, "--days")
            token = add_token(s, args.target, args.name, days)
            s.commit()
            print(token)
            print("(shown once: send it as 'Authorization: Bearer TOKEN')", file=sys.stderr)
        elif args.action == "revoke":
            if not args.target:
                raise ValueError("which token? htr token revoke ID (the id from htr token list)")
            revoke_token(s, _whole(args.target, "ID"))
            s.commit()
            print(f"token {args.target} revoked")
        else:
            for t in list_tokens(s, args.target or None):
                if args.json:
                    print(json.dumps(t.to_json()))
                else:
                    used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never used"
                    ends = t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "no expiry"
                    print(f"{t.id}\t{t.user}\t{t.name}\t{used}\t{'expired ' if t.expired else 'expires '}{ends}")
    return 0


def _whole(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what}: a whole number, not {value!r}") from None


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

    u = sub.add_parser(
        "user",
        help="people who may log in: add NAME --role reviewer|admin --password-stdin, list, remove NAME, role NAME --role R",
    )
    u.add_argument("action", choices=["add", "list", "remove", "role"])
    u.add_argument("name", nargs="?")
    u.add_argument("--role", choices=["reviewer", "admin"], help="add: default reviewer")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of standard input")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_user)

    t = sub.add_parser("token", help="API tokens for scripts: add USER [--name NAME] [--days N], list [USER], revoke ID")
    t.add_argument("action", choices=["add", "list", "revoke"])
    t.add_argument("target", nargs="?", help="add: the user; list: only this user's; revoke: the token's id")
    t.add_argument("--name", default="script")
    t.add_argument("--days", help="how long the token works (default 90), or 'never'")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_token)

    c = sub.add_parser("corrections", help="reviewed lines as training data: export DIR [--document ID] [--since DATE]")
    c.add_argument("action", choices=["export"])
    c.add_argument("dir")
    c.add_argument("--document", type=int)
    c.add_argument("--since", help="ISO date or time: lines reviewed from then on")
    c.set_defaults(func=cmd_corrections)
