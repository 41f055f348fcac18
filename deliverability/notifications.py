"""E-mails to school owners, sent after the transaction that caused them has committed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from deliverability.models import ReinstatementRequest

logger = logging.getLogger(__name__)


def send_decision_email(*, request_id: int) -> bool:
    """Tell the requester how support decided, in the language they used. A mail failure is
    logged, never raised: the decision itself has already committed."""
    request = ReinstatementRequest.objects.select_related("school", "requested_by", "decided_by").get(pk=request_id)
    recipient = request.requested_by.email
    if not recipient:
        logger.warning("request %s: requester has no e-mail address; decision not mailed", request_id)
        return False
    context = {"request": request, "portal_url": settings.PORTAL_BASE_URL.rstrip("/") + "/portal/requests/"}
    with translation.override(request.language or "en"):
        subject = render_to_string("emails/request_decision_subject.txt", context).strip()
        text = render_to_string("emails/request_decision.txt", context)
        html = render_to_string("emails/request_decision.html", context)
    message = EmailMultiAlternatives(subject=" ".join(subject.split()), body=text, to=[recipient])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:  # a mail server outage must not undo or hide a committed decision
        logger.exception("request %s: decision e-mail to the requester failed", request_id)
        return False
    return True
