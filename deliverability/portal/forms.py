"""The owner's reinstatement request form. It only parses input; the rules (minimum length,
the complaint rule, eligibility) are the service's, whose refusals land beside their field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from deliverability.conf import policy
from deliverability.models import WhatChanged


class ReinstatementRequestForm(forms.Form):
    what_changed = forms.ChoiceField(label=_("What changed?"), choices=WhatChanged.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Tell us more"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
    )

    def __init__(self, *args: Any, complaint: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = _(
            'At least %(count)d characters, e.g. "The client confirmed she cleared her mailbox yesterday."'
        ) % {"count": policy("REQUEST_MIN_REASON_LENGTH")}
        if complaint:
            # DESIGN.md: a complaint can only be requested with the recipient's consent.
            self.fields["what_changed"].initial = WhatChanged.WANTS_MAIL
            self.fields["what_changed"].help_text = _(
                "The recipient reported our mail as spam: only their confirmation that they want our mail can "
                "lift this."
            )
