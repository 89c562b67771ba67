"""The notification centre: the list, marking read, and how else to be told."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.notifications import selectors, services
from zhiyuan.notifications.forms import PreferenceForm
from zhiyuan.notifications.models import Notification


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    unread_only = request.GET.get("show") == "unread"
    page = Paginator(selectors.notification_list_for(user, unread_only=unread_only), 30).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/list.html",
        {
            "page": page,
            "unread_only": unread_only,
            "unread": selectors.notification_unread_count(user),
        },
    )


@login_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark read and follow the link: one tap from the list to the need it is about."""
    user = cast(User, request.user)
    # Another person's notification is not found (its existence is not theirs to know).
    notification = get_object_or_404(Notification, pk=pk, user=user)
    services.notification_mark_read(user=user, notification=notification)
    target = notification.url
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_all_read(user=cast(User, request.user))
    messages.success(request, _("%(n)d messages marked read.") % {"n": count})
    return redirect("notifications:list")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    current = selectors.channel_preference_of(user)
    form = PreferenceForm(
        request.POST or None,
        initial={"email": current.email, "email_on": current.email_on, "sms_on": current.sms_on},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.channel_preference_set(user=user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Your notification settings are saved."))
            return redirect("notifications:list")
    return render(request, "notifications/preferences.html", {"form": form})
