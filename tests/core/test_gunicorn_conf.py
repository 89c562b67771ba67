"""The workers' settings: once a worker has loaded the site, the URL map is imported and what
was made so far is hidden from the garbage collector (zhiyuan/gunicorn_conf.py)."""

from __future__ import annotations

import gc
import os
import sys

import pytest

from zhiyuan import gunicorn_conf


def test_a_worker_freezes_what_it_loaded_with_the_url_map() -> None:
    try:
        gunicorn_conf.post_worker_init(worker=None)
        assert "zhiyuan.urls" in sys.modules
        assert "zhiyuan.activities.api" in sys.modules
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on collecting as before


def test_one_worker_per_core_unless_configured(monkeypatch) -> None:
    monkeypatch.delenv("ZHIYUAN_WORKERS", raising=False)
    assert gunicorn_conf.worker_count() == (os.cpu_count() or 1)
    monkeypatch.setenv("ZHIYUAN_WORKERS", "6")
    assert gunicorn_conf.worker_count() == 6
    monkeypatch.setenv("ZHIYUAN_WORKERS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        gunicorn_conf.worker_count()
