"""The ``zhiyuan`` command.

``zhiyuan demo``      migrate the database and build the demo district (once)
``zhiyuan serve``     serve the site (Django's server in development, gunicorn in production)
``zhiyuan worker``    run the background worker
``zhiyuan bench X``   run the benchmark ``bench/X.py``
``zhiyuan …``         anything else is a manage.py command (``zhiyuan audit verify``)
"""

from __future__ import annotations

import importlib
import os
import sys


def _django(argv: list[str]) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["zhiyuan", *argv])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhiyuan.settings")
    if not args or args[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return _django(["help"]) if args else 0
    command, rest = args[0], args[1:]
    if command == "bench":
        if not rest:
            print("usage: zhiyuan bench NAME [options]", file=sys.stderr)
            return 2
        module = importlib.import_module(f"bench.{rest[0]}")
        return int(module.main(rest[1:]) or 0)
    if command == "demo":
        _django(["migrate", "--no-input", "-v", "0"])
        return _django(["demo", *rest])
    if command == "serve":
        import django
        from django.conf import settings

        django.setup()
        if settings.PRODUCTION:
            bind = rest[0] if rest else "0.0.0.0:8000"
            # Replace this process with gunicorn, found next to this Python in the venv.
            gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
            os.execv(  # noqa: S606
                gunicorn,
                [
                    gunicorn,
                    "zhiyuan.wsgi",
                    "--config",
                    "python:zhiyuan.gunicorn_conf",
                    "--bind",
                    bind,
                ],
            )
        return _django(["devserver", *(rest or ["127.0.0.1:8000"])])
    if command == "worker":
        return _django(["worker", *rest])
    return _django(args)


if __name__ == "__main__":
    raise SystemExit(main())
