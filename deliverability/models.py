"""The domain model of DESIGN.md: schools, contacts, bounce events, suppressions and their
change log, reinstatement requests, incidents and the append-only audit log.

Writes with consequences go through `deliverability.services`; the database holds the
invariants (one active suppression per address and scope, one open request per address and
school, enums) so that no code path can break them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from deliverability.taxonomy import (
    Action,
    BlockedCategories,
    Category,
    EventType,
    Reason,
    SuppressionReason,
)

PLATFORM = "platform"


def _in_choices(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class MembershipRole(models.TextChoices):
    OWNER = "owner", _("Owner")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONFIRMED = "confirmed", _("Confirmed")
    DISMISSED = "dismissed", _("Dismissed")


class ChangeKind(models.TextChoices):
    SUPPRESSED = "suppressed", _("Suppressed")
    WIDENED = "widened", _("Widened")
    LIFTED = "lifted", _("Lifted")


class WhatChanged(models.TextChoices):
    MAILBOX_CLEARED = "mailbox_cleared", _("The recipient cleared the mailbox")
    SENDER_UNBLOCKED = "sender_unblocked", _("The recipient unblocked our sender")
    ADDRESS_CONFIRMED = "address_confirmed", _("The recipient confirmed the address works")
    WANTS_MAIL = "wants_mail", _("The recipient confirmed they want our mail")
    OTHER = "other", _("Other")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class RequestOutcome(models.TextChoices):
    PROBATION = "probation", _("On probation")
    FAILED = "failed", _("Failed: bounced again during probation")
    CONFIRMED = "confirmed", _("Confirmed: probation ended quietly")


class School(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """An owner user of a school: `School.objects.filter(memberships__user=user)`."""

    Role = MembershipRole

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "school"], name="membership_unique_user_school"),
            models.CheckConstraint(condition=_in_choices("role", MembershipRole), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.school}"


class Contact(models.Model):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="contacts")
    email = models.CharField(max_length=320, help_text=_("Normalized address."))
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["school", "email"], name="contact_unique_school_email"),
        ]
        indexes = [models.Index(fields=["email"], name="contact_email_idx")]

    def __str__(self) -> str:
        return self.email


class Incident(models.Model):
    """A burst of one hard reason at one domain (DESIGN.md, "Incident guard"): further
    failures of that pattern are held until a lead confirms or dismisses."""

    Status = IncidentStatus

    domain = models.CharField(max_length=255)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    window_start = models.DateTimeField(help_text=_("Start of the burst that opened the incident."))
    distinct_addresses = models.PositiveIntegerField(default=0)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        permissions = [
            ("decide_incident", "Can confirm or dismiss an incident"),
            ("rollback_incident", "Can roll back the suppressions of a dismissed incident"),
        ]
        constraints = [
            models.CheckConstraint(condition=_in_choices("status", IncidentStatus), name="incident_status_valid"),
            models.CheckConstraint(condition=_in_choices("reason", Reason), name="incident_reason_valid"),
            # One open incident per pattern: the guard looks it up on every hard bounce.
            models.UniqueConstraint(
                fields=["domain", "reason"], condition=Q(status="open"), name="incident_one_open_per_pattern"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} at {self.domain} ({self.status})"


class BounceEvent(models.Model):
    """One thing that happened to one address: a bounce, complaint, auto-reply, delay or
    delivery, from the API, a bounce message, a provider webhook or a person.

    Idempotent per (source, source_event_id, email): a retry returns the first row.
    """

    # DESIGN.md: an event whose address can't be found is recorded with `email` null.
    email = models.CharField(  # noqa: DJ001 - null means "unknown address", distinct from ""
        max_length=320, null=True, blank=True, help_text=_("Null when the bounce hid it.")
    )
    domain = models.CharField(max_length=255, blank=True, help_text=_("The part after @, for the incident guard."))
    school = models.ForeignKey(School, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounce_events")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounce_events")
    occurred_at = models.DateTimeField(help_text=_("When the receiving server answered."))
    received_at = models.DateTimeField(default=timezone.now, help_text=_("When we learned of it."))
    type = models.CharField(max_length=16, choices=EventType.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    sender_side = models.BooleanField(default=False)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True, help_text=_("Enhanced status code, e.g. 5.1.1."))
    diagnostic = models.TextField(blank=True)
    remote_mta = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=16, choices=Category.choices, blank=True)
    message_id = models.CharField(max_length=998, blank=True, help_text=_("RFC Message-ID of the original."))
    provider_message_id = models.CharField(max_length=255, blank=True)
    # "Once per message" (DESIGN.md): the RFC Message-ID when known, else the provider's
    # message id, else the event itself; the policy counts distinct keys, not events.
    message_key = models.CharField(max_length=998, blank=True)
    source = models.CharField(max_length=64, help_text=_("api:<scope>, dsn, webhook:<esp> or manual."))
    source_event_id = models.CharField(max_length=255)
    raw = models.JSONField(null=True, blank=True, help_text=_("The payload as received, for the timeline."))
    record_only = models.BooleanField(
        default=False, help_text=_("A provider-list drop repeating an earlier bounce: never suppresses.")
    )
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="held_events")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # Idempotency; NULL addresses are folded to '' so a retry of an address-less
            # event is a duplicate too (NULLs are distinct in SQL unique indexes).
            models.UniqueConstraint(
                "source", "source_event_id", Coalesce("email", models.Value("")), name="bounceevent_idempotency"
            ),
            models.CheckConstraint(condition=_in_choices("type", EventType), name="bounceevent_type_valid"),
            models.CheckConstraint(condition=_in_choices("action", Action), name="bounceevent_action_valid"),
            models.CheckConstraint(condition=_in_choices("reason", Reason), name="bounceevent_reason_valid"),
            models.CheckConstraint(
                condition=Q(category="") | _in_choices("category", Category), name="bounceevent_category_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["email", "-occurred_at"], name="bounceevent_email_time_idx"),
            models.Index(fields=["school", "-occurred_at"], name="bounceevent_school_time_idx"),
            models.Index(fields=["-occurred_at"], name="bounceevent_time_idx"),
            models.Index(fields=["domain", "reason", "occurred_at"], name="bounceevent_pattern_idx"),
            models.Index(fields=["message_id"], name="bounceevent_message_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}/{self.reason} {self.email or '(unknown address)'}"


class SuppressionQuerySet(models.QuerySet["Suppression"]):
    def active(self) -> SuppressionQuerySet:
        return self.filter(lifted_at__isnull=True)

    def platform_wide(self) -> SuppressionQuerySet:
        return self.filter(school__isnull=True)

    def for_school(self, school: School | int | None) -> SuppressionQuerySet:
        """Suppressions that apply to mail of `school`: platform-wide ones and its own."""
        if school is None:
            return self.platform_wide()
        return self.filter(Q(school__isnull=True) | Q(school=school))

    def blocking(self, category: str) -> SuppressionQuerySet:
        if category == Category.SYSTEM:
            return self.filter(categories=BlockedCategories.ALL)
        return self


class Suppression(models.Model):
    """An address we must not mail, on the whole platform (`school` null) or for one school.

    Lifting never deletes: `lifted_at` is null while the suppression is active.
    """

    email = models.CharField(max_length=320)
    school = models.ForeignKey(
        School,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="suppressions",
        help_text=_("Empty means platform-wide."),
    )
    categories = models.CharField(max_length=32, choices=BlockedCategories.choices)
    reason = models.CharField(max_length=32, choices=SuppressionReason.choices)
    cause = models.ForeignKey(
        BounceEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="suppressions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_via = models.CharField(max_length=64, help_text=_("policy, import, manual, ..."))
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_note = models.TextField(blank=True)
    lifted_by_request = models.ForeignKey(
        "ReinstatementRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lifted_suppressions",
    )

    objects: ClassVar[SuppressionQuerySet] = SuppressionQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("suppress_manually", "Can suppress an address manually"),
            ("lift_suppression", "Can lift a suppression"),
            ("import_suppressions", "Can import suppressions"),
            ("export_suppressions", "Can export suppressions"),
            ("erase_address", "Can erase an address's personal data"),
        ]
        constraints = [
            # One active suppression per (email, scope). The scope key must be non-null for the
            # index to hold for platform-wide rows too (NULLs are distinct in SQL unique
            # indexes; SQLite has no NULLS NOT DISTINCT): COALESCE(school_id, 0), 0 = platform.
            models.UniqueConstraint(
                "email",
                Coalesce("school", models.Value(0)),
                condition=Q(lifted_at__isnull=True),
                name="suppression_one_active_per_scope",
            ),
            models.CheckConstraint(
                condition=_in_choices("categories", BlockedCategories), name="suppression_categories_valid"
            ),
            models.CheckConstraint(condition=_in_choices("reason", SuppressionReason), name="suppression_reason_valid"),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | Q(lifted_at__gte=models.F("created_at")),
                name="suppression_lifted_after_created",
            ),
        ]
        indexes = [
            models.Index(fields=["email", "-created_at"], name="suppression_email_time_idx"),
            models.Index(fields=["school", "-created_at"], name="suppression_school_time_idx"),
            models.Index(fields=["-created_at", "-id"], name="suppression_time_idx"),
            models.Index(fields=["reason", "-created_at"], name="suppression_reason_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.scope_label})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None

    @property
    def scope(self) -> str:
        """ "platform" or "school", as the API names it."""
        return PLATFORM if self.school_id is None else "school"

    @property
    def scope_label(self) -> str:
        return str(_("platform-wide")) if self.school_id is None else str(self.school)

    def blocks(self, category: str) -> bool:
        """Whether this suppression stops a message of `category` (bulk/automation/system)."""
        if not self.is_active:
            return False
        return self.categories == BlockedCategories.ALL or category != Category.SYSTEM


class SuppressionChange(models.Model):
    """The change log of DESIGN.md: one row per suppress, widen and lift, appended in the same
    transaction as the change, visible to readers in commit order (services serialize appends
    with a transaction-level advisory lock on PostgreSQL; SQLite serializes all writers)."""

    Change = ChangeKind

    change = models.CharField(max_length=16, choices=Change.choices)
    suppression = models.ForeignKey(Suppression, on_delete=models.PROTECT, related_name="changes")
    email = models.CharField(max_length=320)
    school = models.ForeignKey(School, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    categories = models.CharField(max_length=32, choices=BlockedCategories.choices)
    reason = models.CharField(max_length=32, choices=SuppressionReason.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=_in_choices("change", ChangeKind), name="suppressionchange_change_valid"),
        ]
        indexes = [models.Index(fields=["school", "id"], name="suppressionchange_school_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.change} {self.email}"

    @property
    def scope(self) -> str:
        return PLATFORM if self.school_id is None else "school"


class ReinstatementRequest(models.Model):
    """A school owner's request to resume sending to a suppressed address
    (DESIGN.md, "Reinstatement workflow")."""

    WhatChanged = WhatChanged
    Status = RequestStatus
    Outcome = RequestOutcome

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="reinstatement_requests")
    email = models.CharField(max_length=320)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    what_changed = models.CharField(max_length=32, choices=WhatChanged.choices)
    reason = models.TextField()
    language = models.CharField(max_length=8, default="en", help_text=_("The owner's language, for e-mails."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    decision_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    probation_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("decide_request", "Can approve normal-risk requests and reject requests"),
            ("approve_high_risk", "Can approve high-risk requests"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "school"], condition=Q(status="pending"), name="request_one_open_per_address"
            ),
            models.CheckConstraint(condition=_in_choices("status", RequestStatus), name="request_status_valid"),
            models.CheckConstraint(
                condition=Q(outcome="") | _in_choices("outcome", RequestOutcome), name="request_outcome_valid"
            ),
            models.CheckConstraint(
                condition=_in_choices("what_changed", WhatChanged), name="request_what_changed_valid"
            ),
            # Only an approved request has an outcome.
            models.CheckConstraint(
                condition=Q(outcome="") | Q(status="approved"), name="request_outcome_only_when_approved"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="request_queue_idx"),
            models.Index(fields=["email", "-created_at"], name="request_email_idx"),
            models.Index(fields=["school", "-created_at"], name="request_school_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} for {self.school} ({self.status})"


class AuditEvent(models.Model):
    """Append-only: who (a user, or a system actor such as "policy" or "api:<key>"), what,
    on which target, from which state to which, and why."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=100, help_text=_("The system actor when no user acted."))
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    email = models.CharField(max_length=320, blank=True, help_text=_("The address concerned, for the timeline."))
    school = models.ForeignKey(School, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["email", "-at"], name="audit_email_time_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["-at"], name="audit_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit events are append-only.")


class ApiKey(models.Model):
    """A mailer's credential for the REST API: platform-wide (`school` null) or acting for one
    school only. The secret is shown once when issued; only its SHA-256 is stored (the key is
    random and long, so a slow password hash would add nothing), and `prefix` finds the row."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text=_("Visible part of the key, to tell keys apart."))
    key_hash = models.CharField(max_length=64, unique=True, help_text=_("SHA-256 of the whole key, hex."))
    school = models.ForeignKey(
        School,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_keys",
        help_text=_("Empty means a platform key, which acts for any school."),
    )
    is_active = models.BooleanField(default=True, help_text=_("Off once revoked: requests with the key answer 401."))
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text=_("Updated at most once a minute."))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} (dbo_{self.prefix}_…)"

    @property
    def scope(self) -> str:
        """ "platform" or "school", as the API names it."""
        return PLATFORM if self.school_id is None else "school"

    @property
    def actor_label(self) -> str:
        """Who acted, in audit events written for requests made with this key."""
        return f"api:{self.prefix}"


class ListCheckStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting to start")
    RUNNING = "running", _("Checking")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ListCheck(models.Model):
    """An owner's check of a contact list before import (issue 9): the upload, where its
    background task is, and what it found. Paths are relative to settings.LIST_CHECK_DIR, which
    is never served: the report is downloaded through the portal, scoped to the school."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="list_checks")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    original_name = models.CharField(max_length=255)
    upload_path = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=ListCheckStatus.choices, default=ListCheckStatus.QUEUED)
    progress = models.FloatField(default=0.0)  # 0 to 1 of the file read
    rows_done = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)  # ListCheckResult.as_dict()
    worst_rows = models.JSONField(default=list, blank=True)  # the first rows to fix, with their details
    report_path = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)  # why it failed, for the person who uploaded the file
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["school", "-created_at"], name="listcheck_school_time_idx")]
        constraints = [
            models.CheckConstraint(condition=_in_choices("status", ListCheckStatus), name="listcheck_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0.0, progress__lte=1.0), name="listcheck_progress_range"),
        ]

    def __str__(self) -> str:
        return f"{self.school} {self.original_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ListCheckStatus.DONE, ListCheckStatus.FAILED)
