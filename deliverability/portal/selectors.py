"""The portal's reads, each a fixed number of queries whatever the number of rows: an owner's
schools, a school's dashboard, a page of its blocked contacts (with what each suppression
means, what the owner can do, the masked diagnostic and whether a request is possible), and
the school's requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from deliverability.conf import policy
from deliverability.explanations import suppression_explanation
from deliverability.models import Contact, ReinstatementRequest, RequestStatus, School, Suppression
from deliverability.portal.advice import owner_advice
from deliverability.portal.masking import mask_diagnostic
from deliverability.reinstatement import Eligibility, _requests_today, request_eligibilities
from deliverability.taxonomy import SuppressionReason


def owned_schools(user: AbstractBaseUser | AnonymousUser) -> QuerySet[School]:
    """The schools `user` owns (DESIGN.md: `School.objects.filter(memberships__user=user)`)."""
    if not user.is_authenticated:
        return School.objects.none()
    return School.objects.filter(memberships__user_id=user.pk).order_by("name", "pk")


def _active_for_contacts(school: School) -> QuerySet[Suppression]:
    """Active suppressions that block mail of `school` to one of its contacts."""
    return (
        Suppression.objects.active()
        .for_school(school)
        .filter(email__in=Contact.objects.filter(school=school).values("email"))
    )


def blocked_contacts(school: School, *, search: str = "") -> QuerySet[Contact]:
    """The school's contacts that an active suppression blocks for it, by address."""
    blocking = Suppression.objects.active().filter(Q(school__isnull=True) | Q(school=school), email=OuterRef("email"))
    contacts = Contact.objects.filter(school=school).filter(Exists(blocking))
    if search.strip():
        contacts = contacts.filter(email__icontains=search.strip().lower())
    return contacts.order_by("email", "pk")


@dataclass(frozen=True)
class BlockingItem:
    """One suppression that blocks a contact, as the owner reads it."""

    suppression: Suppression
    explanation: str
    advice: str
    diagnostic: str  # masked
    smtp: str  # "550 5.1.1"

    @property
    def platform_wide(self) -> bool:
        return self.suppression.school_id is None


@dataclass(frozen=True)
class BlockedContact:
    contact: Contact
    items: list[BlockingItem]
    eligibility: Eligibility

    @property
    def since(self) -> datetime | None:
        return min((item.suppression.created_at for item in self.items), default=None)

    @property
    def complaint(self) -> bool:
        return self.eligibility.complaint_only_with_consent


def _item(suppression: Suppression, own_email: str) -> BlockingItem:
    cause = suppression.cause
    smtp = ""
    if cause is not None:
        smtp = " ".join(part for part in (str(cause.smtp_code or ""), cause.status) if part)
        if cause.smtp_code and cause.diagnostic.lstrip().startswith(str(cause.smtp_code)):
            smtp = ""  # the diagnostic starts with the codes already ("452 4.2.2 ...", "550-5.1.1 ...")
    return BlockingItem(
        suppression=suppression,
        explanation=suppression_explanation(suppression.reason),
        advice=owner_advice(suppression.reason),
        diagnostic=mask_diagnostic(cause.diagnostic if cause is not None else "", own_email=own_email),
        smtp=smtp,
    )


def blocked_rows(school: School, contacts: Sequence[Contact], *, now: datetime | None = None) -> list[BlockedContact]:
    """What the blocked-addresses page shows for a page of contacts: at most five queries."""
    eligibilities = request_eligibilities(school=school, emails=[c.email for c in contacts], now=now)
    rows = []
    for contact in contacts:
        eligibility = eligibilities[contact.email]
        # Platform-wide first, then the school's own (NULL sorts differently per database).
        ordered = sorted(eligibility.suppressions, key=lambda s: (s.school_id is not None, s.pk))
        rows.append(BlockedContact(contact, [_item(s, contact.email) for s in ordered], eligibility))
    return rows


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    label: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    school: School
    blocked_contacts: int
    by_reason: list[ReasonCount]
    open_requests: list[ReinstatementRequest]
    open_count: int
    recent_decisions: list[ReinstatementRequest]
    requests_today: int
    daily_limit: int

    @property
    def requests_left_today(self) -> int:
        return max(0, self.daily_limit - self.requests_today)


OPEN_SHOWN = 10
DECISIONS_SHOWN = 5


def dashboard(school: School, *, now: datetime | None = None) -> Dashboard:
    """The school's dashboard: six queries."""
    now = now or timezone.now()
    counts = _active_for_contacts(school).order_by().values("reason").annotate(n=Count("id")).order_by("-n", "reason")
    by_reason = [
        ReasonCount(
            row["reason"],
            str(SuppressionReason(row["reason"]).label) if row["reason"] in SuppressionReason.values else row["reason"],
            row["n"],
        )
        for row in counts
    ]
    requests = ReinstatementRequest.objects.filter(school=school).select_related("requested_by")
    pending = requests.filter(status=RequestStatus.PENDING)
    return Dashboard(
        school=school,
        blocked_contacts=blocked_contacts(school).count(),
        by_reason=by_reason,
        open_requests=list(pending.order_by("created_at", "pk")[:OPEN_SHOWN]),
        open_count=pending.count(),
        recent_decisions=list(
            requests.filter(status__in=[RequestStatus.APPROVED, RequestStatus.REJECTED]).order_by("-decided_at", "-pk")[
                :DECISIONS_SHOWN
            ]
        ),
        requests_today=_requests_today(school, now),
        daily_limit=policy("REQUEST_DAILY_LIMIT"),
    )


def school_requests(schools: QuerySet[School]) -> QuerySet[ReinstatementRequest]:
    """Requests of the given schools, newest first, with what the list shows (one query a page)."""
    return (
        ReinstatementRequest.objects.filter(school__in=schools)
        .select_related("school", "requested_by")
        .order_by("-created_at", "-pk")
    )
