from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "zhiyuan.records"
    label = "records"
    verbose_name = _("Service records and certificates")

    def ready(self) -> None:
        from zhiyuan.records import tasks  # noqa: F401  (registers the periodic task)
        from zhiyuan.records.selectors import weekly_claimed_hours
        from zhiyuan.safeguards.selectors import HOURS_PROVIDERS

        # The safeguards' risk ranking reads claimed hours through this hook.
        if weekly_claimed_hours not in HOURS_PROVIDERS:
            HOURS_PROVIDERS.append(weekly_claimed_hours)
