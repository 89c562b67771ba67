"""The WSGI application gunicorn serves: Django's handler, with the token lane for app clients
(zhiyuan/core/handlers.py)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhiyuan.settings")
django.setup(set_prefix=False)

from zhiyuan.core.handlers import SiteHandler  # noqa: E402 — needs the apps loaded

application = SiteHandler()
