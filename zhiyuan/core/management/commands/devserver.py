"""``manage.py devserver``: Django's development server (with static files, as ``runserver``)
whose listening socket queues 128 connections instead of socketserver's 5.

With 5, a burst of requests — a phone app retrying, two people tapping at once, a script
checking that a double spend books once — finds the queue full and the connection reset
before Django sees it. ``zhiyuan serve`` (``make demo``) runs this outside production.
"""

from __future__ import annotations

from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand
from django.core.servers.basehttp import WSGIServer


class QueueingWSGIServer(WSGIServer):
    request_queue_size = 128


class Command(RunserverCommand):
    help = "Django's development server, with a listen queue long enough for bursts."
    server_cls = QueueingWSGIServer
