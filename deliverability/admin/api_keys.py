"""API keys in the admin: leads issue a key (shown once, in a message) and revoke keys;
agents see which keys exist, their scope and when each was last used."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability.api.services import issue_api_key, revoke_api_key
from deliverability.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # ModelAdmin[ApiKey] fails at runtime (no django_stubs_ext)
    list_display = ["name", "key_prefix", "school", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    list_select_related = ["school"]
    search_fields = ["name", "prefix"]
    autocomplete_fields = ["school"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "school")
        return ("name", "key_prefix", "school", "is_active", "created_at", "last_used_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        # A key never changes once issued; it is only revoked (the action).
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description=_("key"))
    def key_prefix(self, obj: ApiKey) -> str:
        return f"dbo_{obj.prefix}_…"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm[ApiKey], change: bool) -> None:
        if change:
            return  # nothing is editable (see get_readonly_fields)
        issued = issue_api_key(
            name=obj.name, school=obj.school, actor_label=request.user.get_username(), acting_user=_user(request)
        )
        # The admin goes on with `obj` (log entry, redirect): make it the stored row.
        obj.pk, obj.prefix, obj.key_hash = issued.api_key.pk, issued.api_key.prefix, issued.api_key.key_hash
        obj.created_at = issued.api_key.created_at
        obj._state.adding = False
        obj._state.db = issued.api_key._state.db
        messages.warning(
            request,
            format_html("The new API key, shown this once — copy it now: <code>{}</code>", issued.secret),
        )

    @admin.action(description=_("Revoke the selected API keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(
            revoke_api_key(api_key=key, actor_label=request.user.get_username(), acting_user=_user(request))
            for key in queryset
        )
        self.message_user(request, _("%(count)d API key(s) revoked.") % {"count": revoked}, messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: audit events point at keys


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None
