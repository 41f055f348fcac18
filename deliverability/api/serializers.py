"""Input serializers validate envelopes (cheaply: one pass over a list, never a serializer per
address); output serializers describe the answers for the OpenAPI schema, and serialize the
suppression list. The hot paths build their answers as plain dicts of the same shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from deliverability.addresses import MAX_LENGTH
from deliverability.models import PLATFORM, Contact, School, Suppression
from deliverability.taxonomy import Category, SuppressionReason

MAX_CHECK_ADDRESSES = 10_000
MAX_CONTACTS = 10_000
# At most this many item errors are listed; a list that is wrong everywhere says so soon enough.
_MAX_ITEM_ERRORS = 20

SCOPES = [(PLATFORM, "Platform-wide"), ("school", "One school")]
_SLUG_MAX = School._meta.get_field("slug").max_length or 100
NAME_MAX = Contact._meta.get_field("name").max_length or 200


def _school_field(help_text: str) -> serializers.SlugField:
    return serializers.SlugField(
        max_length=_SLUG_MAX, required=False, allow_null=True, allow_blank=True, help_text=help_text
    )


# --- input ----------------------------------------------------------------------------------


@extend_schema_field(
    {"type": "array", "items": {"type": "string"}, "maxItems": MAX_CHECK_ADDRESSES, "description": "Addresses."}
)
class AddressListField(serializers.Field):
    """A list of at most 10,000 strings, checked in one pass; whether each string is an
    address is the check's business (invalid ones are answered, not refused)."""

    default_error_messages = {
        "not_a_list": "Expected a list of addresses.",
        "too_many": f"At most {MAX_CHECK_ADDRESSES:,} addresses per request.",
    }

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_CHECK_ADDRESSES:
            self.fail("too_many")
        if not all(type(item) is str for item in data):
            errors: dict[str, list[str]] = {}
            for index, item in enumerate(data):
                if not isinstance(item, str):
                    errors[str(index)] = ["Expected a string."]
                    if len(errors) >= _MAX_ITEM_ERRORS:
                        break
            raise serializers.ValidationError(errors)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_CONTACTS,
        "items": {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "name": {"type": "string", "nullable": True, "maxLength": NAME_MAX},
            },
            "required": ["email"],
        },
    }
)
class ContactListField(serializers.Field):
    """A list of at most 10,000 {"email": str, "name": str|null} objects, checked for shape
    only; full address validation happens per contact and lands in `invalid`."""

    default_error_messages = {
        "not_a_list": "Expected a list of contacts.",
        "too_many": f"At most {MAX_CONTACTS:,} contacts per request.",
    }

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_CONTACTS:
            self.fail("too_many")
        errors: dict[str, Any] = {}
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                errors[str(index)] = ['Expected an object: {"email": ..., "name": ...}.']
            elif not isinstance(item.get("email"), str):
                errors[str(index)] = {"email": ["Required: a string."]}
            elif item.get("name") is not None and not isinstance(item["name"], str):
                errors[str(index)] = {"name": ["Expected a string or null."]}
            if len(errors) >= _MAX_ITEM_ERRORS:
                break
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class CheckInputSerializer(serializers.Serializer[Any]):
    emails = AddressListField(help_text=f"Up to {MAX_CHECK_ADDRESSES:,} addresses, as the mailer has them.")
    category = serializers.ChoiceField(choices=Category.choices, help_text="The category of the message to send.")
    school = _school_field(
        "The school the message is sent for. Optional for a platform key (without it only platform-wide "
        "suppressions apply); a school key acts for its own school only."
    )


class CheckQuerySerializer(serializers.Serializer[Any]):
    email = serializers.CharField(
        max_length=MAX_LENGTH * 4, trim_whitespace=False, help_text="One address, as the mailer has it."
    )
    category = serializers.ChoiceField(choices=Category.choices)
    school = _school_field("As for POST /api/v1/check/.")


class ContactsInputSerializer(serializers.Serializer[Any]):
    school = _school_field("The school whose contacts these are; required for a platform key.")
    contacts = ContactListField(help_text=f"Up to {MAX_CONTACTS:,} contacts; `name` is kept when omitted.")


# --- output ---------------------------------------------------------------------------------


class BlockedEntrySerializer(serializers.Serializer[Any]):
    email = serializers.CharField(help_text="The address as sent.")
    normalized = serializers.CharField(help_text="The address as we store it.")
    reason = serializers.ChoiceField(choices=SuppressionReason.choices)
    scope = serializers.ChoiceField(choices=SCOPES)
    school = serializers.CharField(allow_null=True, help_text="The school's slug; null when platform-wide.")
    since = serializers.DateTimeField()
    suppression_id = serializers.IntegerField()


class InvalidEntrySerializer(serializers.Serializer[Any]):
    email = serializers.CharField(help_text="The address as sent.")
    error = serializers.CharField()


class CheckOutputSerializer(serializers.Serializer[Any]):
    checked = serializers.IntegerField(help_text="Entries received, duplicates and invalid ones included.")
    blocked = BlockedEntrySerializer(many=True, help_text="One entry per blocked input entry.")
    invalid = InvalidEntrySerializer(many=True)


class CheckOneOutputSerializer(serializers.Serializer[Any]):
    email = serializers.CharField(help_text="The address as sent.")
    sendable = serializers.BooleanField()
    blocked_by = BlockedEntrySerializer(allow_null=True)


class ContactsOutputSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    invalid = InvalidEntrySerializer(many=True)


class SuppressionOutputSerializer(serializers.ModelSerializer[Suppression]):
    scope = serializers.ChoiceField(choices=SCOPES, read_only=True)
    school: serializers.SlugRelatedField[School] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Suppression
        fields = ["id", "email", "scope", "school", "categories", "reason", "active", "created_at", "lifted_at"]
        read_only_fields = fields


class ErrorSerializer(serializers.Serializer[Any]):
    """The one error shape (deliverability.api.exceptions); for the schema."""

    # inline: a serializer can't declare a field called `fields`.
    error = inline_serializer(
        "ErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stable, e.g. validation_error, not_authenticated, throttled."),
            "message": serializers.CharField(help_text="For people."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="Messages per field path (`emails.3`, `contacts.0.email`); empty when no field is at fault.",
            ),
        },
    )
