"""The workers' settings: once a worker has loaded the site, the URL map is imported and what
was made so far is hidden from the garbage collector (zhiyuan/gunicorn_conf.py)."""

from __future__ import annotations

import gc
import sys

from zhiyuan import gunicorn_conf


def test_a_worker_freezes_what_it_loaded_with_the_url_map() -> None:
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert "zhiyuan.urls" in sys.modules
        assert "zhiyuan.activities.api" in sys.modules
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on collecting as before
