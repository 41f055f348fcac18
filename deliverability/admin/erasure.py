"""Erase an address (leads): a confirmation page that says exactly what will happen, then one
call to `deliverability.erasure.erase_address`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, normalize_email
from deliverability.admin.forms import AddressAndNoteForm
from deliverability.admin.timeline import address_url
from deliverability.erasure import erase_address, erasure_plan
from deliverability.services import Actor, ServiceError


class EraseForm(AddressAndNoteForm):
    email = forms.CharField(label=_("Address"), max_length=320)
    note = forms.CharField(
        label=_("Note"),
        max_length=2000,
        help_text=_("Why: e.g. the data subject's request and its reference. Required; kept in the audit log."),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
    confirm = forms.BooleanField(label=_("I understand that this cannot be undone."))


def erase_view(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """GET ?email=…: what erasing will do; POST: do it."""
    if not request.user.has_perm("deliverability.erase_address"):
        raise PermissionDenied
    if request.method == "POST":
        form = EraseForm(request.POST)
    else:
        form = EraseForm(initial={"email": request.GET.get("email", "")[:320]})
    email = ""
    if form.is_bound:
        if form.is_valid():
            email = form.cleaned_data["email"]
    else:
        try:
            email = normalize_email(request.GET.get("email", ""))
        except InvalidEmail:
            email = ""
    plan = None
    if email:
        plan = erasure_plan(email)
    if form.is_bound and form.is_valid():
        try:
            result = erase_address(email=email, actor=Actor.of(request.user), note=form.cleaned_data["note"])
        except ServiceError as error:
            form.add_error(None, str(error))
        else:
            model_admin.message_user(
                request,
                _("Erased: %(c)d contacts, %(e)d events, %(r)d requests, %(a)d audit events anonymized.")
                % {
                    "c": result.counts["contacts"],
                    "e": result.counts["events"],
                    "r": result.counts["requests"],
                    "a": result.counts["audit_events"],
                },
                messages.SUCCESS,
            )
            return HttpResponseRedirect(address_url(result.email))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Erase an address"),
        "form": form,
        "plan": plan,
    }
    return TemplateResponse(request, "admin/deliverability/erase.html", context)
