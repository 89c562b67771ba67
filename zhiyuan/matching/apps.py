from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "zhiyuan.matching"
    label = "matching"
    verbose_name = _("Matching")

    def ready(self) -> None:
        from zhiyuan.matching import (  # noqa: F401  (audit actions, the periodic fill)
            models,
            tasks,
        )
