from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "zhiyuan.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.contrib import admin
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from zhiyuan.core import tasks  # noqa: F401  (registers the periodic retention task)
        from zhiyuan.core.permissions import has_perm

        def admin_permission(request: Any) -> bool:
            # Django's admin site is the system administrator's alone (三员分立), and only with a
            # staff account; the second factor is enforced by the middleware before this.
            user = request.user
            return bool(
                user.is_active
                and (user.is_staff or user.is_superuser)
                and has_perm(user, "admin.site")
            )

        admin.site.has_permission = admin_permission  # type: ignore[method-assign]
        # The TOTP devices' admin would show their secret keys: not on the admin site.
        if admin.site.is_registered(TOTPDevice):
            admin.site.unregister(TOTPDevice)
