from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "zhiyuan.activities"
    label = "activities"
    verbose_name = _("Activities and check-in")

    def ready(self) -> None:
        from zhiyuan.activities import tasks  # noqa: F401  (registers the periodic tasks)
