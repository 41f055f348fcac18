"""The reinstatement workflow of DESIGN.md: a school owner asks to resume sending to a
suppressed address, support decides with the risk in front of them, approval lifts the
suppressions and starts probation.

Every transition is one keyword-only, atomic, audited function; the decision e-mail to the
owner is sent after commit. Reads the portal and the admin share (eligibility, risk) are here
too, so both screens show the same verdicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, domain_of, normalize_email
from deliverability.conf import policy
from deliverability.models import (
    BounceEvent,
    Contact,
    ReinstatementRequest,
    RequestOutcome,
    RequestStatus,
    School,
    Suppression,
    WhatChanged,
)
from deliverability.services import Actor, AlreadyDecided, ServiceError, _audit, lift_suppression
from deliverability.taxonomy import Action, EventType, Reason, SuppressionReason

# Mailbox providers whose "user unknown" is authoritative (they do not answer it for
# mailboxes that exist): a recent one makes a request high risk. Receiving hosts count too,
# for schools' own domains hosted at Google or Microsoft.
MAJOR_PROVIDER_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mail.ru",
        "yandex.ru",
        "gmx.com",
        "gmx.de",
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "op.pl",
        "interia.pl",
        "poczta.onet.pl",
    }
)
MAJOR_PROVIDER_MTAS = ("google.com", "googlemail.com", "outlook.com", "yahoodns.net", "yahoo.com", "icloud.com")


class RequestRefused(ServiceError):
    """An owner's request that can't be filed; `field` names the form field it belongs to."""

    def __init__(self, message: str | Promise, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.field = field


# --- reads shared by the portal and the admin ----------------------------------------------


def blocking_suppressions(*, email: str, school: School) -> QuerySet[Suppression]:
    """Active suppressions that stop mail of `school` to `email`: platform-wide ones and the
    school's own (never another school's)."""
    return Suppression.objects.active().for_school(school).filter(email=email).order_by("school_id", "id")


@dataclass(frozen=True)
class Eligibility:
    """Whether an owner may ask for `email` now, and if not, why (for the portal)."""

    allowed: bool
    why_not: str = ""
    suppressions: list[Suppression] = field(default_factory=list)

    @property
    def complaint_only_with_consent(self) -> bool:
        return any(s.reason == SuppressionReason.COMPLAINT for s in self.suppressions)


def request_eligibility(*, school: School, email: str, now: datetime | None = None) -> Eligibility:
    return request_eligibilities(school=school, emails=[email], now=now)[email]


def request_eligibilities(
    *, school: School, emails: Collection[str], now: datetime | None = None
) -> dict[str, Eligibility]:
    """`request_eligibility` for many addresses of one school at once (the portal's page of
    blocked contacts): at most five queries, whatever the number of addresses. Each
    eligibility carries the address's blocking suppressions with their causes."""
    now = now or timezone.now()
    wanted = set(emails)
    if not wanted:
        return {}
    suppressions: dict[str, list[Suppression]] = defaultdict(list)
    for suppression in (
        Suppression.objects.active()
        .for_school(school)
        .filter(email__in=wanted)
        .order_by("school_id", "id")
        .select_related("cause")
        .defer("cause__raw")
    ):
        suppressions[suppression.email].append(suppression)
    contacts = set(Contact.objects.filter(school=school, email__in=wanted).values_list("email", flat=True))
    pending = set(
        ReinstatementRequest.objects.filter(school=school, email__in=wanted, status=RequestStatus.PENDING).values_list(
            "email", flat=True
        )
    )
    blocked_until = _failed_reinstatement_blocks(wanted, now)
    limit_reached: bool | None = None  # counted once, and only when an address gets that far
    result: dict[str, Eligibility] = {}
    for email in wanted:
        found = suppressions.get(email, [])
        if email not in contacts:
            result[email] = Eligibility(False, str(_("This address is not one of your school's contacts.")))
        elif not found:
            result[email] = Eligibility(False, str(_("This address is not blocked for your school.")))
        elif email in pending:
            result[email] = Eligibility(
                False, str(_("A request for this address is already waiting for support.")), found
            )
        elif email in blocked_until:
            result[email] = Eligibility(
                False,
                str(_("An earlier reinstatement of this address failed; new requests are possible from %(date)s."))
                % {"date": timezone.localtime(blocked_until[email]).date().isoformat()},
                found,
            )
        else:
            if limit_reached is None:
                limit_reached = _requests_today(school, now) >= policy("REQUEST_DAILY_LIMIT")
            if limit_reached:
                result[email] = Eligibility(
                    False,
                    str(_("Your school has reached today's limit of requests; please try again tomorrow.")),
                    found,
                )
            else:
                result[email] = Eligibility(True, "", found)
    return result


def _failed_reinstatement_blocks(emails: Collection[str], now: datetime) -> dict[str, datetime]:
    """Until when a failed reinstatement blocks new requests, for each of `emails` it blocks."""
    block = timedelta(days=policy("FAILED_REINSTATEMENT_BLOCK_DAYS"))
    rows = (
        ReinstatementRequest.objects.filter(email__in=emails, outcome=RequestOutcome.FAILED, updated_at__gt=now - block)
        .order_by()
        .values("email")
        .annotate(last=Max("updated_at"))
        .values_list("email", "last")
    )
    return {email: last + block for email, last in rows}


def _requests_today(school: School, now: datetime) -> int:
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return ReinstatementRequest.objects.filter(school=school, created_at__gte=start).count()


@dataclass(frozen=True)
class Risk:
    high: bool
    reasons: list[str]


def assess_risk(request: ReinstatementRequest, *, now: datetime | None = None) -> Risk:
    """The rules of DESIGN.md (workflow step 4); any one makes the request high risk, which
    needs the lead permission to approve."""
    now = now or timezone.now()
    reasons: list[str] = []
    events = BounceEvent.objects.filter(email=request.email, action=Action.FAILED, sender_side=False)
    suppressions = blocking_suppressions(email=request.email, school=request.school)
    if (
        suppressions.filter(reason=SuppressionReason.COMPLAINT).exists()
        or events.filter(type=EventType.COMPLAINT, occurred_at__gte=now - timedelta(days=90)).exists()
    ):
        reasons.append(str(_("The recipient reported our mail as spam.")))
    major = Q(domain__in=MAJOR_PROVIDER_DOMAINS)
    for host in MAJOR_PROVIDER_MTAS:
        major |= Q(remote_mta__iendswith=host)
    if (
        domain_of(request.email) in MAJOR_PROVIDER_DOMAINS
        or events.filter(major, reason=Reason.MAILBOX_NOT_FOUND).exists()
    ) and events.filter(reason=Reason.MAILBOX_NOT_FOUND, occurred_at__gte=now - timedelta(days=30)).exists():
        reasons.append(str(_("A major mailbox provider said in the last 30 days that the mailbox does not exist.")))
    if ReinstatementRequest.objects.filter(email=request.email, outcome=RequestOutcome.FAILED).exists():
        reasons.append(str(_("An earlier reinstatement of this address failed.")))
    hard_messages = (
        events.filter(type=EventType.HARD, record_only=False, occurred_at__gte=now - timedelta(days=90))
        .values("message_key")
        .distinct()
        .count()
    )
    if hard_messages > 1:
        reasons.append(str(_("%(count)d hard bounces in the last 90 days.")) % {"count": hard_messages})
    return Risk(high=bool(reasons), reasons=reasons)


# --- transitions ---------------------------------------------------------------------------


def submit_reinstatement_request(
    *,
    school: School,
    email: str,
    what_changed: str,
    reason: str,
    requested_by: User,
    language: str = "en",
) -> ReinstatementRequest:
    """An owner asks to resume sending to one of the school's suppressed contacts."""
    if not School.objects.filter(pk=school.pk, memberships__user=requested_by).exists():
        raise PermissionDenied("Only an owner of the school can ask for its contacts.")
    try:
        email = normalize_email(email)
    except InvalidEmail as error:
        raise RequestRefused(str(error), field="email") from None
    if what_changed not in WhatChanged.values:
        raise RequestRefused(_("Choose what changed."), field="what_changed")
    reason = reason.replace("\x00", "").strip()
    minimum = policy("REQUEST_MIN_REASON_LENGTH")
    if len(reason) < minimum:
        raise RequestRefused(
            _("Tell us what changed in at least %(count)d characters.") % {"count": minimum}, field="reason"
        )
    if len(reason) > 5000:
        raise RequestRefused(_("Please keep the reason under 5,000 characters."), field="reason")
    with transaction.atomic():
        # One writer per school at a time: the daily limit can't be raced past.
        School.objects.select_for_update().get(pk=school.pk)
        eligibility = request_eligibility(school=school, email=email)
        if not eligibility.allowed:
            raise RequestRefused(eligibility.why_not)
        if eligibility.complaint_only_with_consent and what_changed != WhatChanged.WANTS_MAIL:
            raise RequestRefused(
                _("The recipient reported our mail as spam: we can only resume when they confirmed they want it."),
                field="what_changed",
            )
        try:
            with transaction.atomic():
                request = ReinstatementRequest.objects.create(
                    school=school,
                    email=email,
                    requested_by=requested_by,
                    what_changed=what_changed,
                    reason=reason,
                    language=(language or "en")[:8],
                )
        except IntegrityError:
            raise RequestRefused(_("A request for this address is already waiting for support.")) from None
        _audit(
            actor=Actor.of(requested_by),
            action="request.submitted",
            target=request,
            email=email,
            school=school,
            after={"status": request.status, "what_changed": what_changed},
            note=reason,
        )
    return request


def withdraw_reinstatement_request(*, request: ReinstatementRequest, acting_user: User) -> ReinstatementRequest:
    """The owner takes a pending request back."""
    if not School.objects.filter(pk=request.school_id, memberships__user=acting_user).exists():
        raise PermissionDenied("Only an owner of the school can withdraw its requests.")
    with transaction.atomic():
        locked = _lock_pending(request)
        _transition(locked, RequestStatus.WITHDRAWN, Actor.of(acting_user), note="")
    return locked


def approve_reinstatement_request(
    *, request: ReinstatementRequest, acting_user: User, note: str
) -> ReinstatementRequest:
    """Lift every active suppression that blocks the address for the school (platform-wide
    ones for everyone, and the school's own), atomically, and start probation."""
    _check_decider(request, acting_user, note)
    with transaction.atomic():
        locked = _lock_pending(request)
        risk = assess_risk(locked)
        if risk.high and not acting_user.has_perm("deliverability.approve_high_risk"):
            raise PermissionDenied("This request is high risk: only a deliverability lead can approve it.")
        actor = Actor.of(acting_user)
        for suppression in blocking_suppressions(email=locked.email, school=locked.school):
            lift_suppression(
                suppression=suppression,
                actor=actor,
                request=locked,
                note=f"Reinstatement request #{locked.pk} approved: {note}",
            )
        locked.outcome = RequestOutcome.PROBATION
        locked.probation_ends_at = timezone.now() + timedelta(days=policy("PROBATION_DAYS"))
        _transition(locked, RequestStatus.APPROVED, actor, note, extra={"risk": risk.reasons})
    return locked


def reject_reinstatement_request(
    *, request: ReinstatementRequest, acting_user: User, note: str
) -> ReinstatementRequest:
    """Keep the suppression; the owner reads the note."""
    _check_decider(request, acting_user, note)
    with transaction.atomic():
        locked = _lock_pending(request)
        _transition(locked, RequestStatus.REJECTED, Actor.of(acting_user), note)
    return locked


def close_probations(*, now: datetime | None = None) -> int:
    """Probations that ended quietly become `confirmed` (run daily: `close_probations`)."""
    now = now or timezone.now()
    closed = 0
    due = ReinstatementRequest.objects.filter(outcome=RequestOutcome.PROBATION, probation_ends_at__lt=now)
    for pk in due.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            request = ReinstatementRequest.objects.select_for_update().get(pk=pk)
            if request.outcome != RequestOutcome.PROBATION:
                continue  # a hard bounce failed it meanwhile
            request.outcome = RequestOutcome.CONFIRMED
            request.updated_at = now
            request.save(update_fields=["outcome", "updated_at"])
            _audit(
                actor=Actor(label="probation"),
                action="request.probation_confirmed",
                target=request,
                email=request.email,
                school=request.school,
                before={"outcome": RequestOutcome.PROBATION},
                after={"outcome": RequestOutcome.CONFIRMED},
            )
            closed += 1
    return closed


def _check_decider(request: ReinstatementRequest, user: User, note: str) -> None:
    if not user.has_perm("deliverability.decide_request"):
        raise PermissionDenied("Only support can decide reinstatement requests.")
    if request.requested_by_id == user.pk:
        raise PermissionDenied("Nobody decides a request they filed themselves.")
    if not note.replace("\x00", "").strip():
        raise ServiceError("A decision needs a note for the school owner.")


def _lock_pending(request: ReinstatementRequest) -> ReinstatementRequest:
    locked = ReinstatementRequest.objects.select_for_update().select_related("school").get(pk=request.pk)
    if locked.status != RequestStatus.PENDING:
        raise AlreadyDecided(f"This request is already {locked.get_status_display().lower()}.")
    return locked


def _transition(
    request: ReinstatementRequest, status: str, actor: Actor, note: str, extra: dict[str, Any] | None = None
) -> None:
    before = {"status": request.status}
    now = timezone.now()
    request.status = status
    request.updated_at = now
    fields = ["status", "updated_at", "outcome", "probation_ends_at"]
    if status in (RequestStatus.APPROVED, RequestStatus.REJECTED):
        request.decided_by = actor.user
        request.decided_at = now
        request.decision_note = note.replace("\x00", "").strip()
        fields += ["decided_by", "decided_at", "decision_note"]
    request.save(update_fields=fields)
    after = {"status": status, "outcome": request.outcome, **(extra or {})}
    _audit(
        actor=actor,
        action=f"request.{status}",
        target=request,
        email=request.email,
        school=request.school,
        before=before,
        after=after,
        note=note,
    )
    if actor.user is not None and actor.user.is_staff:
        LogEntry.objects.log_actions(
            user_id=actor.user.pk,
            queryset=[request],
            action_flag=CHANGE,
            change_message=f"{before['status']} → {status}: {note}"[:2000],
            single_object=True,
        )
    if status in (RequestStatus.APPROVED, RequestStatus.REJECTED):
        from deliverability.notifications import send_decision_email

        transaction.on_commit(lambda: send_decision_email(request_id=request.pk))
