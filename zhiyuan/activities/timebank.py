"""An activity's time-bank service item: which items it may name, and what it deposits.

Where a region prices time-bank service items (``ledger.TimeBankPolicy.priced_items``), an
activity that counts for the time bank may name the item it provides, by code; each confirmed
record of it then deposits that item's price (the nearest region's, as on the members' price
list) instead of the minutes served. Kept apart from ``activities.services`` (whose
check-in and sign-up paths are tuned separately): the checks and reads ``activity_create``
and the pages use, and the one write, ``activity_timebank_item_set``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhiyuan.accounts.models import User
from zhiyuan.activities.models import Activity
from zhiyuan.core.audit import audit_actions, audit_record
from zhiyuan.ledger.models import TimeBankItem
from zhiyuan.organizations.services import organization_require
from zhiyuan.regions.selectors import region_subtree_q


@audit_actions
class TimeBankItemAudit(models.TextChoices):
    ITEM_SET = "activity.timebank_item_set", gettext_lazy("Activity's time-bank service item set")


def _code(region: Any) -> str:
    return region if isinstance(region, str) else str(region.pk)


def timebank_item_errors(*, time_bank: bool, item_code: str, region: Any) -> list[str]:
    """Why an activity in ``region`` may not name ``item_code`` (empty: it may, or names none).

    The item must be priced for the region or a region above it, the region's time bank must
    price items, and the activity must count for the time bank at all.
    """
    from zhiyuan.ledger.selectors import timebank_items_for
    from zhiyuan.ledger.services import timebank_policy_for

    if not item_code:
        return []
    if not time_bank:
        return [
            _(
                "A service item prices time-bank credit: tick “Counts for the time bank”, or "
                "choose “price by hours served”."
            )
        ]
    if region is None:
        return []  # the region's own error is shown
    if not timebank_policy_for(_code(region)).priced_items:
        return [
            _(
                "This community's time bank counts the hours served and does not price "
                "service items: choose “price by hours served”."
            )
        ]
    if item_code not in {item.code for item in timebank_items_for(_code(region))}:
        return [
            _(
                "No time-bank service item with the code “%(code)s” is priced for this "
                "community or the regions above it."
            )
            % {"code": item_code}
        ]
    return []


@dataclass(frozen=True)
class TimeBankPrice:
    """What one confirmed record of an activity deposits in the time bank."""

    item: TimeBankItem | None  # None: the minutes served (pricing off, no item, or withdrawn)
    item_code: str  # what the activity names ("" for none)

    @property
    def minutes(self) -> int | None:
        return self.item.minutes if self.item is not None else None


def activity_timebank_price(activity: Any) -> TimeBankPrice | None:
    """The item whose price each record of the activity deposits now, or None when the
    activity does not count for the time bank."""
    from zhiyuan.ledger.selectors import timebank_items_for
    from zhiyuan.ledger.services import timebank_policy_for

    if not activity.time_bank:
        return None
    code = activity.timebank_item or ""
    if not code or not timebank_policy_for(activity.region_id).priced_items:
        return TimeBankPrice(item=None, item_code=code)
    item = next((i for i in timebank_items_for(activity.region_id) if i.code == code), None)
    return TimeBankPrice(item=item, item_code=code)


def timebank_item_choices(regions: Iterable[Any]) -> list[tuple[str, str]]:
    """The item codes an activity in or under these regions may name (an organisation's
    regions, before the activity's own community is chosen): items priced by a region above
    them or within them, one choice per code, by name. The chosen community's own list is
    checked when the activity is saved."""
    from zhiyuan.ledger.services import ancestor_codes

    codes = [_code(r) for r in regions if r is not None]
    if not codes:
        return []
    above = {a for code in codes for a in ancestor_codes(code)}
    names: dict[str, str] = {}
    rows = (
        TimeBankItem.objects.filter(region_subtree_q(codes) | Q(region_id__in=sorted(above)))
        .order_by("-region_id", "code")
        .values_list("code", "name")
    )
    for code, name in rows:
        names.setdefault(code, name)
    return sorted(
        (
            (code, _("%(name)s (%(code)s)") % {"name": name, "code": code})
            for code, name in names.items()
        ),
        key=lambda c: c[1],
    )


def activity_timebank_item_set(
    *,
    activity: Activity,
    actor: User,
    timebank_item: str,
    request: HttpRequest | None = None,
) -> Activity:
    """The organiser names (or, with "", clears) the service item an existing activity
    provides. Records confirmed from now on deposit its price; credit already deposited
    stays as it was."""
    organization_require(actor, "activity.manage", activity.organization, request=request)
    code = (timebank_item or "").strip()
    with transaction.atomic():
        # Row lock on the activity: the check reads its time-bank flag and region, which a
        # concurrent change would otherwise slip past.
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        errors = timebank_item_errors(
            time_bank=locked.time_bank, item_code=code, region=locked.region_id
        )
        if errors:
            raise ValidationError({"timebank_item": errors})
        if locked.timebank_item != code:
            before = locked.timebank_item
            locked.timebank_item = code
            locked.save(update_fields=["timebank_item"])
            audit_record(
                action=TimeBankItemAudit.ITEM_SET,
                actor=actor,
                target=locked,
                request=request,
                detail={"from": before, "to": code},
            )
    return locked
