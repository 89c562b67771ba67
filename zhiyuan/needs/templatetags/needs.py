"""What the role home pages show of the needs: the way in, with live counts."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from zhiyuan.core.permissions import has_perm, organization_scopes, region_scopes
from zhiyuan.needs import selectors
from zhiyuan.needs.models import AssignmentState, NeedAssignment
from zhiyuan.needs.states import NEXT_STEP, NeedState

register = template.Library()


@register.inclusion_tag("needs/_home.html", takes_context=True)
def needs_home(context: dict[str, Any], role: str) -> dict[str, Any]:
    """Links and counts for one role's home page (resident, volunteer, dispatcher…)."""
    user = context["request"].user
    out: dict[str, Any] = {"role": role, "show": True}
    out["can_spend"] = role in ("resident", "volunteer") and has_perm(user, "need.timebank", None)
    if role == "resident" and has_perm(user, "need.post", None):
        mine = list(selectors.need_list_posted_by(user)[:3])
        out["mine"] = [(n, NEXT_STEP[NeedState(n.state)]) for n in mine]
        out["can_post"] = True
    elif role == "volunteer" and has_perm(user, "need.serve", None):
        offers = selectors.need_offers_for(user)
        out["offers"] = len(offers["offered"]) + len(offers["team"])
        out["holding"] = len(offers["holding"])
        out["served"] = NeedAssignment.objects.filter(
            volunteer=user, state=AssignmentState.FINISHED
        ).count()
    elif role == "dispatcher" and has_perm(user, "need.dispatch", None):
        codes = region_scopes(user, "need.dispatch")
        now = timezone.now()
        out["open"] = selectors.need_queue(codes, selectors.QueueFilters(state="open"), now).count()
        out["overdue"] = selectors.need_queue(
            codes, selectors.QueueFilters(state="active", overdue=True), now
        ).count()
        out["followups"] = selectors.followups_open(codes).count()
        out["can_post"] = has_perm(user, "need.post", None)
    elif role == "org_admin" and organization_scopes(user, "need.grab"):
        out["pool"] = len(selectors.need_pool_for(user))
    elif role == "region_admin" and has_perm(user, "need.policy", None):
        out["region_admin"] = True
    else:
        out["show"] = False
    return out
