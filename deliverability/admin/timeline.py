"""The address page: one address's summary strip and timeline, found by typing the address
(whether or not a contact has it). The contact page shows the same timeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, normalize_email_fast
from deliverability.models import BounceEvent
from deliverability.selectors import address_summary, address_suppressions, address_timeline

ADDRESS_URL_NAME = "deliverability_address"


def address_url(email: str) -> str:
    """The address page of `email` (normalized)."""
    return reverse(f"admin:{ADDRESS_URL_NAME}") + "?" + urlencode({"email": email})


def address_link(email: str | None, text: str | None = None) -> str:
    """A link to the address page, for list rows and read-only fields."""
    if not email:
        return str(_("(unknown address)"))
    return format_html('<a class="address-link" href="{}">{}</a>', address_url(email), text or email)


class AddressLookupForm(forms.Form):
    email = forms.CharField(
        label=_("Address"),
        max_length=320,
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "anna@example.com", "autofocus": True}),
    )

    def clean_email(self) -> str:
        try:
            return normalize_email_fast(self.cleaned_data["email"])
        except InvalidEmail as error:
            raise forms.ValidationError(_("Not an e-mail address: %(error)s"), params={"error": error}) from None


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def timeline_context(request: HttpRequest, email: str) -> dict[str, Any]:
    """What the summary and timeline templates need for `email`: a fixed number of queries."""
    suppressions = address_suppressions(email)
    page = address_timeline(email, page=_page_number(request), suppressions=suppressions)
    query = request.GET.copy()
    links = {}
    for name, number in (("previous", page.number - 1), ("next", page.number + 1)):
        query["page"] = str(number)
        links[name] = "?" + query.urlencode()
    return {
        "address": email,
        "summary": address_summary(email, suppressions=suppressions),
        "timeline": page,
        "timeline_links": links,
        "can_erase": request.user.has_perm("deliverability.erase_address"),
        "can_suppress": request.user.has_perm("deliverability.suppress_manually"),
        "can_lift": request.user.has_perm("deliverability.lift_suppression"),
    }


def address_view(model_admin: admin.ModelAdmin[BounceEvent], request: HttpRequest) -> HttpResponse:
    """GET ?email=… : the address page; without an address, the lookup form."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = AddressLookupForm(request.GET if "email" in request.GET else None)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": _("Address lookup"),
        "opts": model_admin.opts,
        "form": form,
    }
    if form.is_valid():
        email = form.cleaned_data["email"]
        context["title"] = email
        context.update(timeline_context(request, email))
    return TemplateResponse(request, "admin/deliverability/address.html", context)
