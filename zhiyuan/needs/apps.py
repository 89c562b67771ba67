from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NeedsConfig(AppConfig):
    name = "zhiyuan.needs"
    label = "needs"
    verbose_name = _("Residents' needs")

    def ready(self) -> None:
        from zhiyuan.needs import tasks  # noqa: F401  (registers the deadline watch)
