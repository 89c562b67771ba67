"""Settings of ``zhiyuan bench checkin``'s server: the project's own, with the baseline URL."""

from zhiyuan.settings import *  # noqa: F403

ROOT_URLCONF = "bench.checkin_urls"
