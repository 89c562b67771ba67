"""The bell in the layout: how many unread messages the person has."""

from __future__ import annotations

from typing import Any

from django import template

from zhiyuan.notifications.selectors import notification_unread_count

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"unread": notification_unread_count(user)}
