"""The `linju` command: run the stack, migrate, seed, manage users and keys."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path
from types import FrameType

from services.cli import database as db
from services.cli.seed import seed
from services.cli.stack import Stack
from services.common.constraints import ConstraintViolations

DEFAULT_DATA_DIR = Path(".linju")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder of the embedded PostgreSQL when DATABASE_URL is not set (default ./.linju)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linju", description="Linju (邻聚) backend")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack (database, migrations, seed, four services)")
    _add_data_dir(up)
    up.add_argument("--port", type=int, default=8000, help="gateway port; services use the next three")
    up.add_argument(
        "--host", default="127.0.0.1", help="gateway bind address (0.0.0.0 to accept other machines)"
    )
    up.add_argument("--no-demo", action="store_true", help="do not create demo users and data")

    migrate = sub.add_parser("migrate", help="upgrade every service schema to its latest migration")
    _add_data_dir(migrate)

    seed_cmd = sub.add_parser("seed", help="insert reference data (streets, communities) and a signing key")
    _add_data_dir(seed_cmd)
    seed_cmd.add_argument("--demo", action="store_true", help="also create demo users and data")

    create_user = sub.add_parser("create-user", help="create a user (password read from stdin)")
    _add_data_dir(create_user)
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--display-name")
    create_user.add_argument("--password-stdin", action="store_true", required=True)
    create_user.add_argument("--role", required=True, choices=["district", "street", "operator", "evaluator"])
    create_user.add_argument("--street-id", type=uuid.UUID)
    create_user.add_argument("--organization-id", type=uuid.UUID)

    rotate = sub.add_parser(
        "rotate-keys", help="add a signing key: published at once, signing after --activate-in seconds"
    )
    _add_data_dir(rotate)
    rotate.add_argument(
        "--activate-in",
        type=int,
        default=120,
        help="seconds between publishing the new key in the JWKS and signing with it (default 120, "
        "more than the services' one-minute JWKS refetch interval, so no service meets an unknown kid)",
    )

    dispatch = sub.add_parser(
        "dispatch",
        help="run the webhook dispatcher: read the services' change feeds, deliver signed events "
        "(`linju up` starts one)",
    )
    _add_data_dir(dispatch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "up": cmd_up,
        "migrate": cmd_migrate,
        "seed": cmd_seed,
        "create-user": cmd_create_user,
        "rotate-keys": cmd_rotate_keys,
        "dispatch": cmd_dispatch,
    }[args.command]
    try:
        return handler(args)
    except ConstraintViolations as refused:
        # A migration found stored rows breaking a rule it adds: its message is the whole story.
        print(f"linju: migration refused. {refused}", file=sys.stderr)
        return 1


def cmd_migrate(args: argparse.Namespace) -> int:
    database = db.open_database(args.data_dir)
    try:
        db.migrate(database.url)
        print("migrated:", ", ".join(db.SERVICES))
    finally:
        database.stop()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    database = db.open_database(args.data_dir)
    try:
        users = asyncio.run(seed(database.url, demo=args.demo))
        print(f"seeded reference data{' and demo users' if users else ''}")
    finally:
        database.stop()
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.gateway.identity.schemas import UserCreate

    password = sys.stdin.readline().rstrip("\n")
    try:
        data = UserCreate(
            username=args.username,
            display_name=args.display_name or args.username,
            password=password,
            role=args.role,
            street_id=args.street_id,
            organization_id=args.organization_id,
        )
    except ValidationError as exc:
        for err in exc.errors():
            print(f"error: {'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}", file=sys.stderr)
        return 2
    database = db.open_database(args.data_dir)
    try:
        user_id = asyncio.run(_create_user(database.url, data))
    finally:
        database.stop()
    print(f"created user {data.username} ({data.role}) id={user_id}")
    return 0


async def _create_user(url: str, data: object) -> uuid.UUID:
    from services.cli.seed import _url
    from services.common.db import create_engine, make_sessionmaker
    from services.gateway.identity import service as identity

    engine = create_engine(_url(url), pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await identity.create_user(session, data, actor=None, request=None)  # type: ignore[arg-type]
            return user.id
    finally:
        await engine.dispose()


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    database = db.open_database(args.data_dir)
    try:
        kid = asyncio.run(_rotate(database.url, args.activate_in))
    finally:
        database.stop()
    print(
        f"new signing key {kid}: in the JWKS now, signing in {args.activate_in} s; "
        "the previous key stays published until its last token has expired"
    )
    return 0


async def _rotate(url: str, activate_in_s: int) -> str:
    from services.cli.seed import _url
    from services.common.db import create_engine, make_sessionmaker
    from services.gateway.keys.service import add_signing_key

    engine = create_engine(_url(url), pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await add_signing_key(session, activate_in_s=activate_in_s)
    finally:
        await engine.dispose()


def cmd_dispatch(args: argparse.Namespace) -> int:
    from services.common.requestid import configure_logging
    from services.gateway.settings import GatewaySettings
    from services.gateway.webhooks.dispatcher import run_dispatcher

    database = db.open_database(args.data_dir)
    try:
        settings = GatewaySettings(database_url=database.url)
        configure_logging("dispatcher", json_lines=settings.log_json, level=settings.log_level)
        settings.install_clock()

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await run_dispatcher(settings, stop)

        asyncio.run(run())
    finally:
        database.stop()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    database = db.open_database(args.data_dir)
    stack: Stack | None = None

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        print("migrating …", flush=True)
        db.migrate(database.url)
        users = asyncio.run(seed(database.url, demo=not args.no_demo))
        stack = Stack(database_url=database.url, gateway_port=args.port, gateway_host=args.host)
        stack.start()
        base = stack.url()
        where = f"embedded PostgreSQL in {args.data_dir / 'pgdata'}" if database.server else "DATABASE_URL"
        print(
            f"\nLinju is running.\n"
            f"  API:      {base}/api/v1/…\n"
            f"  Docs:     {base}/docs   (Authorize → log in with a user below)\n"
            f"  OpenAPI:  {base}/openapi.json\n"
            f"  Database: {where}\n",
            flush=True,
        )
        if users:
            print("Demo logins (username / password, role):")
            for user in users:
                print(f"  {user.username:<10} / {user.password}   {user.role}")
        print("\nCtrl-C stops everything.", flush=True)
        while True:
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
        return 0
    finally:
        if stack is not None:
            stack.stop()
        database.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
