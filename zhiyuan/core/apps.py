from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "zhiyuan.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from zhiyuan.core import tasks  # noqa: F401  (registers the periodic retention task)
