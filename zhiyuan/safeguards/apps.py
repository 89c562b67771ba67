from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SafeguardsConfig(AppConfig):
    name = "zhiyuan.safeguards"
    label = "safeguards"
    verbose_name = _("Legal safeguards")

    def ready(self) -> None:
        from zhiyuan.safeguards import tasks  # noqa: F401  (registers the periodic status sync)
