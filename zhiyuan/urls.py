"""URL map: the pages, the API under /api/v1, the health check and the admin site."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from zhiyuan.api import api
from zhiyuan.core import views as core_views

urlpatterns = [
    # First: the API takes the busiest requests (check-ins, sign-ups); resolving it needs no
    # walk past every page pattern.
    path("api/v1/", api.urls),
    path("", include("zhiyuan.core.urls")),
    path("accounts/", include("zhiyuan.accounts.urls")),
    path("regions/", include("zhiyuan.regions.urls")),
    path("organisations/", include("zhiyuan.organizations.urls")),
    path("safeguards/", include("zhiyuan.safeguards.urls")),
    path("people/", include("zhiyuan.people.urls")),
    path("activities/", include("zhiyuan.activities.urls")),
    path("activities/", include("zhiyuan.activities.urls_extra")),
    path("records/", include("zhiyuan.records.urls")),
    path("notifications/", include("zhiyuan.notifications.urls")),
    path("needs/", include("zhiyuan.needs.urls")),
    path("matching/", include("zhiyuan.matching.urls")),
    path("ledger/", include("zhiyuan.ledger.urls")),
    path("store/", include("zhiyuan.store.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("healthz", core_views.healthz, name="healthz"),
    path("sysadmin/", admin.site.urls),
]

handler400 = "zhiyuan.core.views.error_400"
handler403 = "zhiyuan.core.views.error_403"
handler404 = "zhiyuan.core.views.error_404"
handler500 = "zhiyuan.core.views.error_500"
