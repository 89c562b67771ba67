"""Residents' needs (群众点单) and their way to a volunteer and back to the resident's rating.

A :class:`Need` is asked for by a resident, or posted for them by a community worker or a
relative (代点单: ``posted_by`` differs from the person helped and ``proxy_relation`` says how
they are linked). Its state changes only through ``zhiyuan.needs.services`` under the rules of
``zhiyuan.needs.states``; every change is a :class:`NeedEvent` and an audit entry. Address,
phone and health details are encrypted; who may see them depends on the state (states.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.audit import audit_actions
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.permissions import Scope
from zhiyuan.needs.states import Action, NeedState


@audit_actions
class NeedAudit(models.TextChoices):
    """What the needs app writes to the audit log (identifiers and states, never contacts)."""

    SUBMITTED = "need.submitted", _("Need posted")
    TRANSITION = "need.transition", _("Need changed state")
    PHOTO_ADDED = "need.photo_added", _("Need photo added")
    FOLLOW_UP_CLOSED = "need.follow_up_closed", _("Low rating followed up")
    CATEGORY_SAVED = "need.category_saved", _("Need category saved")
    POLICY_SAVED = "need.policy_saved", _("Need time limits saved")


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


class ProxyRelation(models.TextChoices):
    """How the person posting is linked to the person helped (代点单)."""

    SELF = "self", _("For myself")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    RELATIVE = "relative", _("Relative")
    NEIGHBOUR = "neighbour", _("Neighbour or friend")


class NeedCategory(models.Model):
    """An entry of the two-level need taxonomy. National entries have no region; a region adds
    its own items (under any top-level entry) or top-level entries, and retires them."""

    code = models.CharField(_("code"), max_length=60, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=80)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("added by region"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The volunteer skill (people.Skill code) such a need usually calls for.
    skill_code = models.CharField(_("usual skill"), max_length=40, blank=True)
    sort = models.PositiveSmallIntegerField(default=0)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("need category")
        verbose_name_plural = _("need categories")
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)

    @property
    def top(self) -> NeedCategory:
        return self.parent if self.parent_id and self.parent is not None else self


class NeedPolicy(models.Model):
    """A region's rules for needs; the nearest region up the tree with a policy decides."""

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="need_policy"
    )
    teams_may_grab = models.BooleanField(
        _("verified teams may take open needs in their area"), default=False
    )
    low_rating = models.PositiveSmallIntegerField(
        _("ratings at or below this open a follow-up"), default=2
    )
    # The civilisation-practice centre (新时代文明实践中心/所/站) of the region, as a verified
    # organisation: it records and certifies the service of needs its dispatchers sent straight
    # to volunteers (谁组织谁记录). The nearest region up the tree naming one decides.
    record_organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation that records directly dispatched service"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("need policy")
        verbose_name_plural = _("need policies")

    def __str__(self) -> str:
        return self.region_id

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


class NeedTimeLimit(models.Model):
    """How long each step may take for one urgency in a region (no national limits exist)."""

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    review_minutes = models.PositiveIntegerField(_("minutes to review"))
    accept_minutes = models.PositiveIntegerField(_("minutes to accept after dispatch"))
    start_minutes = models.PositiveIntegerField(_("minutes to start after acceptance"))

    class Meta:
        verbose_name = _("need time limit")
        verbose_name_plural = _("need time limits")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "urgency"],
                name="%(app_label)s_%(class)s_one_per_urgency",
                violation_error_message=_("This region has limits for this urgency already."),
            ),
            models.CheckConstraint(
                condition=Q(review_minutes__gt=0, accept_minutes__gt=0, start_minutes__gt=0),
                name="%(app_label)s_%(class)s_positive",
                violation_error_message=_("Every time limit is at least one minute."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.urgency}"


class Need(models.Model):
    """Something a resident needs done, from posting to their rating."""

    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="needs_posted"
    )
    # The person helped, when they have an account (they then see the need too).
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs_received",
    )
    proxy_relation = models.CharField(
        _("posted as"), max_length=20, choices=ProxyRelation.choices, default=ProxyRelation.SELF
    )
    beneficiary_name = EncryptedTextField(
        _("name of the person helped"), purpose="need_name", blank=True
    )
    # Who the need is for, as a keyed hash (account or phone): counts repeat needs, reveals nothing.
    beneficiary_key = models.CharField(max_length=40, db_index=True)
    contact_phone = EncryptedTextField(_("contact phone"), purpose="need_phone", blank=True)
    address = EncryptedTextField(_("address"), purpose="need_address", blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    region = models.ForeignKey(
        "regions.Region", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+"
    )
    category = models.ForeignKey(
        NeedCategory, verbose_name=_("kind of help"), on_delete=models.PROTECT, related_name="needs"
    )
    description = models.TextField(_("what is needed"), max_length=1000)
    # Sensitive personal data (PIPL Art. 28): only with the person's separate consent.
    health_details = EncryptedTextField(_("health details"), purpose="need_health", blank=True)
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE
    )
    window_start = models.DateTimeField(_("from"), null=True, blank=True)
    window_end = models.DateTimeField(_("until"), null=True, blank=True)
    people_needed = models.PositiveSmallIntegerField(_("volunteers needed"), default=1)
    skills = models.ManyToManyField("people.Skill", verbose_name=_("skills needed"), blank=True)
    qualifications = models.JSONField(_("qualifications needed"), default=list, blank=True)
    photos_allowed = models.BooleanField(_("photos of the service allowed"), default=False)

    state = models.CharField(
        _("state"), max_length=20, choices=NeedState.choices, default=NeedState.SUBMITTED
    )
    state_changed_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(_("posted"), default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(_("first dispatched"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("first accepted"), null=True, blank=True)
    started_at = models.DateTimeField(_("service started"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed on"), null=True, blank=True)
    # Deadlines of the step in progress (see services: time limits); alerts sent once each.
    review_due_at = models.DateTimeField(null=True, blank=True)
    accept_due_at = models.DateTimeField(null=True, blank=True)
    start_due_at = models.DateTimeField(null=True, blank=True)
    review_alerted_at = models.DateTimeField(null=True, blank=True)
    start_alerted_at = models.DateTimeField(null=True, blank=True)

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs",
    )
    # Dispatched to no one in particular: verified teams of the area may take it.
    open_to_teams = models.BooleanField(default=False)
    # Why it was rejected, returned or cancelled (a rejection's reason is shown to the resident).
    reason = models.TextField(_("reason"), blank=True)
    completion_note = models.TextField(_("completion note"), blank=True)

    class Meta:
        verbose_name = _("need")
        verbose_name_plural = _("needs")
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            models.Index(fields=["region", "state"]),
            models.Index(fields=["state", "submitted_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(people_needed__gte=1, people_needed__lte=50),
                name="%(app_label)s_%(class)s_people_1_50",
                violation_error_message=_("Between 1 and 50 volunteers."),
            ),
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_end__gt=models.F("window_start")),
                name="%(app_label)s_%(class)s_window_order",
                violation_error_message=_("The time window must end after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.category}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("needs:detail", args=[self.pk])

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.organization_id)

    @property
    def is_proxy(self) -> bool:
        return self.proxy_relation != ProxyRelation.SELF

    @property
    def asap(self) -> bool:
        return self.window_start is None

    @property
    def approx_lat(self) -> float | None:
        # Two decimals: about a kilometre, enough to judge the distance, not to find the door.
        return round(self.lat, 2) if self.lat is not None else None

    @property
    def approx_lng(self) -> float | None:
        return round(self.lng, 2) if self.lng is not None else None


class AssignmentState(models.TextChoices):
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Offer withdrawn")
    DROPPED = "dropped", _("Gave up the place")
    STARTED = "started", _("Serving")
    FINISHED = "finished", _("Finished")
    ABSENT = "absent", _("Did not serve")


# A volunteer holding a place on the need.
HOLDING = (AssignmentState.ACCEPTED, AssignmentState.STARTED, AssignmentState.FINISHED)


class RecordStatus(models.TextChoices):
    NONE = "", _("No record")
    WAITING = "waiting", _("Waiting for the records service")
    CREATED = "created", _("Service record created")


class NeedAssignment(models.Model):
    """A volunteer's part in a need: offered, accepted or declined, then served.

    Start and finish keep the time and the volunteer's reported location as evidence; a
    finished assignment becomes a service record (``record_id``) through the records service.
    """

    need = models.ForeignKey(Need, on_delete=models.CASCADE, related_name="assignments")
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="need_assignments"
    )
    # The team the volunteer serves for, when the need went to a team.
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    state = models.CharField(_("state"), max_length=10, choices=AssignmentState.choices)
    offered_at = models.DateTimeField(null=True, blank=True)
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # The ranker's score and its reasons when the offer was made (what the dispatcher saw).
    score = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    start_lat = models.FloatField(null=True, blank=True)
    start_lng = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    finish_lat = models.FloatField(null=True, blank=True)
    finish_lng = models.FloatField(null=True, blank=True)
    record_status = models.CharField(
        max_length=10, choices=RecordStatus.choices, default=RecordStatus.NONE, blank=True
    )
    record_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("need assignment")
        verbose_name_plural = _("need assignments")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["need", "volunteer"],
                name="%(app_label)s_%(class)s_once_per_volunteer",
                violation_error_message=_("This volunteer already has a part in this need."),
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(started_at__isnull=False),
                name="%(app_label)s_%(class)s_finish_after_start",
                violation_error_message=_("A service finishes only after it started."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.need_id}/{self.volunteer_id} {self.state}"

    def permission_scope(self) -> Scope:
        return self.need.permission_scope()

    @property
    def minutes(self) -> int:
        if self.started_at is None or self.finished_at is None:
            return 0
        return max(0, int((self.finished_at - self.started_at).total_seconds() // 60))


class NeedEvent(models.Model):
    """One step in a need's life: who did what, when, from which state to which."""

    need = models.ForeignKey(Need, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    from_state = models.CharField(max_length=20, choices=NeedState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=NeedState.choices)
    # Whose part the step concerned (a volunteer's acceptance, a team's grab).
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("need event")
        verbose_name_plural = _("need events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.need_id} {self.action} {self.from_state}→{self.to_state}"


class NeedRating(models.Model):
    """The resident's (or proxy's) confirmation and rating; a low one opens a follow-up."""

    need = models.OneToOneField(Need, on_delete=models.CASCADE, related_name="rating")
    score = models.PositiveSmallIntegerField(_("rating"))
    tags = models.JSONField(_("what stood out"), default=list, blank=True)
    comment = models.TextField(_("comment"), max_length=500, blank=True)
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    rated_at = models.DateTimeField(default=timezone.now)
    follow_up = models.BooleanField(_("needs a follow-up"), default=False)
    follow_up_closed_at = models.DateTimeField(null=True, blank=True)
    follow_up_closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    follow_up_note = models.TextField(_("what was done"), blank=True)

    class Meta:
        verbose_name = _("need rating")
        verbose_name_plural = _("need ratings")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5),
                name="%(app_label)s_%(class)s_score_1_5",
                violation_error_message=_("A rating is from 1 to 5."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.need_id}: {self.score}"

    def permission_scope(self) -> Scope:
        return self.need.permission_scope()


class NeedPhoto(models.Model):
    """A photo of the service, taken by an assigned volunteer where the resident allowed it."""

    need = models.ForeignKey(Need, on_delete=models.CASCADE, related_name="photos")
    assignment = models.ForeignKey(NeedAssignment, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to="needs/photos/")
    content_type = models.CharField(max_length=40)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("need photo")
        verbose_name_plural = _("need photos")

    def __str__(self) -> str:
        return f"{self.need_id}/{self.pk}"


class TimeBankStatus(models.TextChoices):
    HELD = "held", _("Credit held for this need")
    SPENT = "spent", _("Credit spent: the service started")
    REFUNDED = "refunded", _("Credit returned")


class NeedTimeBank(models.Model):
    """Time-bank credit a member spent to ask for this need, for themselves or a registered
    relative (issue 6: withdrawal through the needs flow). The credit is withdrawn when the need
    is posted, comes back by reversal if the need ends before any service starts (cancelled,
    rejected, expired), and is spent — no longer refundable — from the first start."""

    need = models.OneToOneField(Need, on_delete=models.PROTECT, related_name="time_bank")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    relative = models.ForeignKey(
        "ledger.Relative", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    minutes = models.PositiveIntegerField(_("minutes of credit"))
    withdrawal = models.OneToOneField(
        "ledger.Withdrawal", on_delete=models.PROTECT, related_name="need_time_bank"
    )
    status = models.CharField(
        _("state"), max_length=10, choices=TimeBankStatus.choices, default=TimeBankStatus.HELD
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("time-bank need")
        verbose_name_plural = _("time-bank needs")
        constraints = [
            models.CheckConstraint(
                condition=Q(minutes__gt=0),
                name="%(app_label)s_%(class)s_minutes_positive",
                violation_error_message=_("A time-bank request spends at least one minute."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.need_id}: {self.minutes} ({self.status})"

    def permission_scope(self) -> Scope:
        return self.need.permission_scope()
