"""API views: parse and validate the envelope → resolve the acting school → call one selector
or service → render. Scope rules live in `acting_school`."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, NoReturn

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.db_router import replica_reads
from deliverability.addresses import MAX_LENGTH, InvalidEmail, normalize_email, normalize_email_fast
from deliverability.api import serializers as s
from deliverability.api.authentication import api_key_of
from deliverability.api.filters import SuppressionFilter, as_utc
from deliverability.api.selectors import blocking_suppressions, check_addresses
from deliverability.api.services import sync_contacts
from deliverability.models import ApiKey, School, Suppression

# Body limits (DESIGN.md: "fit its largest batch and no more"). A character takes at most 4
# bytes in UTF-8; each list item gets room for its quotes, separator and some indentation,
# and the envelope (other keys, whitespace) a few KiB.
_MAX_CHAR_BYTES = 4
_ITEM_OVERHEAD = 16
_ENVELOPE = 4096
CHECK_MAX_BODY_BYTES = s.MAX_CHECK_ADDRESSES * (MAX_LENGTH * _MAX_CHAR_BYTES + _ITEM_OVERHEAD) + _ENVELOPE
_CONTACT_OVERHEAD = len('{"email": "", "name": ""}, ') + _ITEM_OVERHEAD
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTACTS_MAX_BODY_BYTES = s.MAX_CONTACTS * ((MAX_LENGTH + s.NAME_MAX) * _MAX_CHAR_BYTES + _CONTACT_OVERHEAD) + _ENVELOPE


def _errors(*codes: int) -> dict[int | tuple[int, str], Any]:
    descriptions = {
        400: "Invalid input: the body or a parameter (see `fields`).",
        401: "No API key, or an unknown or revoked one.",
        403: "A school key naming another school.",
        404: "Not found.",
        413: "The body is larger than this endpoint's limit.",
        415: "The body is not JSON (send `Content-Type: application/json`).",
        429: "Too many requests with this key; see `Retry-After`.",
    }
    return {code: OpenApiResponse(s.ErrorSerializer, description=descriptions[code]) for code in codes}


def acting_school(key: ApiKey, slug: str | None) -> School | None:
    """The school a request acts for. A school key acts for its school only (another slug:
    403, whether or not it exists); a platform key for the named school, or platform-wide
    (None) when no school is named (an unknown slug: 400)."""
    if key.school is not None:
        if slug and slug != key.school.slug:
            raise exceptions.PermissionDenied(f"This API key acts only for the school {key.school.slug!r}.")
        return key.school
    if not slug:
        return None
    school = School.objects.filter(slug=slug).first()
    if school is None:
        raise exceptions.ValidationError({"school": ["No school has this slug."]})
    return school


class ApiView(APIView):
    """Base of the API's views: answers in UTC, body limited by `max_body_bytes` (None:
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""

    max_body_bytes: int | None = None

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated("No API key: send the header `Authorization: Bearer <api key>`.")
        super().permission_denied(request, message=message, code=code)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with timezone.override(UTC):
            return super().dispatch(request, *args, **kwargs)


class CheckView(ApiView):
    """Whether addresses may be sent a message of a category now, for a school or platform-wide:
    an address is blocked by an active suppression of the platform or of that school that
    covers the category (a `bulk_and_automation` suppression lets `system` mail through)."""

    max_body_bytes = CHECK_MAX_BODY_BYTES

    @extend_schema(
        operation_id="check_address",
        summary="May one address be sent a message now?",
        parameters=[s.CheckQuerySerializer],
        responses={200: s.CheckOneOutputSerializer, **_errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        key = api_key_of(request)
        query = s.CheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        sent: str = query.validated_data["email"]
        try:
            normalized = normalize_email_fast(sent)
        except InvalidEmail as error:
            raise exceptions.ValidationError({"email": [str(error)]}) from None
        school = acting_school(key, query.validated_data.get("school"))
        with replica_reads(key.prefix):
            found = blocking_suppressions(
                [normalized], category=query.validated_data["category"], school_id=school.pk if school else None
            )
        blocked_by = found.get(normalized)
        entry = None if blocked_by is None else {"email": sent, "normalized": normalized, **blocked_by}
        return Response({"email": sent, "sendable": entry is None, "blocked_by": entry})

    @extend_schema(
        operation_id="check_addresses",
        summary="Which of these addresses may not be sent a message?",
        request=s.CheckInputSerializer,
        responses={200: s.CheckOutputSerializer, **_errors(400, 401, 403, 413, 415, 429)},
        examples=[
            OpenApiExample(
                "A bulk mailing for one school",
                request_only=True,
                value={"emails": ["Ann@Example.com", "bob@example.org"], "category": "bulk", "school": "school-a"},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        key = api_key_of(request)
        envelope = s.CheckInputSerializer(data=_object(request.data))
        envelope.is_valid(raise_exception=True)
        school = acting_school(key, envelope.validated_data.get("school"))
        with replica_reads(key.prefix):  # a read replica serves checks when configured
            result = check_addresses(
                envelope.validated_data["emails"], category=envelope.validated_data["category"], school=school
            )
        return Response(result)


class ContactsView(ApiView):
    """Upsert a school's contacts: addresses are fully validated and normalized; duplicates
    in one request collapse to one contact (the last name given wins)."""

    max_body_bytes = CONTACTS_MAX_BODY_BYTES

    @extend_schema(
        operation_id="sync_contacts",
        summary="Create or update a school's contacts",
        request=s.ContactsInputSerializer,
        responses={200: s.ContactsOutputSerializer, **_errors(400, 401, 403, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        key = api_key_of(request)
        envelope = s.ContactsInputSerializer(data=_object(request.data))
        envelope.is_valid(raise_exception=True)
        school = acting_school(key, envelope.validated_data.get("school"))
        if school is None:
            raise exceptions.ValidationError({"school": ["Required with a platform key."]})

        # Duplicates (after normalization) collapse to one contact; the last name given wins.
        contacts: dict[str, str | None] = {}
        invalid: list[dict[str, str]] = []
        for item in envelope.validated_data["contacts"]:
            sent: str = item["email"]
            try:
                email = normalize_email(sent)
            except InvalidEmail as error:
                invalid.append({"email": sent, "error": str(error)})
                continue
            name = item.get("name")
            if name is not None:
                name = name.strip()
                if len(name) > s.NAME_MAX:
                    invalid.append({"email": sent, "error": f"name longer than {s.NAME_MAX} characters"})
                    continue
                if _CONTROL.search(name):
                    invalid.append({"email": sent, "error": "name contains control characters"})
                    continue
            if name is not None or email not in contacts:
                contacts[email] = name
        synced = sync_contacts(school=school, contacts=contacts, actor_label=key.actor_label)
        return Response({"created": synced.created, "updated": synced.updated, "invalid": invalid})


def _object(data: Any) -> Any:
    """A JSON body must be an object; DRF's serializers would call a list "invalid data"."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return data


class SuppressionCursorPagination(CursorPagination):
    """Newest first, stable: ties on `created_at` are ordered by id."""

    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        # The position is compared with created_at: a crafted one must not reach the query as
        # it is (an impossible date, or an offset PostgreSQL refuses).
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = parse_datetime(str(cursor.position))
        except ValueError:
            position = None
        utc = as_utc(position) if position is not None and position.tzinfo is not None else None
        if utc is None:
            raise exceptions.NotFound(self.invalid_cursor_message)
        position_text: Any = str(utc)  # DRF's stubs type positions as int; they are str() of the field
        return cursor._replace(position=position_text)


class SuppressionListView(ApiView, generics.ListAPIView[Suppression]):
    queryset = Suppression.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = s.SuppressionOutputSerializer
    filterset_class = SuppressionFilter
    pagination_class = SuppressionCursorPagination

    @extend_schema(
        operation_id="list_suppressions",
        summary="Suppressions, newest first",
        description="A school key sees platform-wide suppressions and its school's, never another school's.",
        responses={200: s.SuppressionOutputSerializer(many=True), **_errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Suppression]:
        key = api_key_of(self.request)
        queryset = Suppression.objects.select_related("school")
        if key.school is not None:
            acting_school(key, self.request.query_params.get("school"))  # 403 for another school
            queryset = queryset.for_school(key.school)
        return queryset
