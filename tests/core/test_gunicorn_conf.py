"""The workers' settings: once a worker has loaded the site, the URL map is imported and what
was made so far is hidden from the garbage collector (zhiyuan/gunicorn_conf.py)."""

from __future__ import annotations

import gc
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
    monkeypatch.setattr(gunicorn_conf, "usable_cores", lambda: 4)
    assert gunicorn_conf.worker_count() == 4
    monkeypatch.setattr(gunicorn_conf, "usable_cores", lambda: 1)
    assert gunicorn_conf.worker_count() == 2  # one slow request must not hold up every other
    monkeypatch.setenv("ZHIYUAN_WORKERS", "6")
    assert gunicorn_conf.worker_count() == 6
    monkeypatch.setenv("ZHIYUAN_WORKERS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        gunicorn_conf.worker_count()


def test_a_containers_cpu_quota_caps_the_cores(monkeypatch) -> None:
    monkeypatch.setattr(gunicorn_conf.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(gunicorn_conf, "_cgroup_cpu_quota", lambda: 2)
    assert gunicorn_conf.usable_cores() == 2
    monkeypatch.setattr(gunicorn_conf, "_cgroup_cpu_quota", lambda: None)
    assert gunicorn_conf.usable_cores() == 64


def test_the_cgroup_quota_is_read_in_whole_cpus(monkeypatch, tmp_path) -> None:
    real_open = open

    def cgroup(text: str):
        def fake_open(path, *args, **kwargs):
            if str(path) == "/sys/fs/cgroup/cpu.max":
                target = tmp_path / "cpu.max"
                target.write_text(text)
                return real_open(target, *args, **kwargs)
            return real_open(path, *args, **kwargs)

        return fake_open

    monkeypatch.setattr("builtins.open", cgroup("150000 100000\n"))
    assert gunicorn_conf._cgroup_cpu_quota() == 2
    monkeypatch.setattr("builtins.open", cgroup("max 100000\n"))
    assert gunicorn_conf._cgroup_cpu_quota() is None
