"""Form pieces the lead's actions share: an address fully validated, a required note."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, normalize_email


class AddressAndNoteForm(forms.Form):
    """A form with an `email` (normalized with full validation) and a required `note`."""

    cleaned_data: dict[str, Any]

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except InvalidEmail as error:
            raise forms.ValidationError(_("Not a valid address: %(error)s"), params={"error": error}) from None

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note
