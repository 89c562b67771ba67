"""URLs for ``zhiyuan bench checkin``'s server: the whole site, plus the baseline endpoint.

The baseline is the least a Django endpoint can do that still writes: one INSERT through the
same handler and middleware as the check-in (its path is under /api/ and the driver sends it a
bearer token, so it takes the token lane of zhiyuan/core/handlers.py as the check-in does), with
no authentication, no permission check, no ORM model and no audit. It exists only in the
benchmark's own URL map, never in the deployed site.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def insert_one(request: HttpRequest) -> HttpResponse:
    person = int(request.GET.get("p", "0"))
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (person, at) VALUES (%s, now())", [person])
    return HttpResponse(status=201)


urlpatterns = [
    path("api/bench/insert", insert_one),
    path("", include("zhiyuan.urls")),
]
