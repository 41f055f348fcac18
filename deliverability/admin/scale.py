"""Admin pieces for tables of millions of rows (suppressions, bounce events, audit events):
a paginator that never counts without a bound, exact indexed search by address, and a school
filter that lists no schools.

The rules (issue 4, "Scale"): no unbounded COUNT(*) (an estimate where the list is
unfiltered), no per-row queries, exact search on an indexed column, sorting only on indexed
columns, no date_hierarchy and no DISTINCT-based filters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, normalize_email_fast

COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows. Past the cap, an unfiltered list takes the
    planner's estimate (PostgreSQL's pg_class.reltuples; SQLite's highest id) and a filtered
    one says "more than 10,000". Always one query."""

    count_is_estimate = False
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        queryset: QuerySet[Any] = self.object_list  # type: ignore[assignment]
        if queryset.query.where:
            counted = queryset.order_by()[: COUNT_CAP + 1].count()
            if counted > COUNT_CAP:
                self.count_is_capped = True
            return counted
        exact, estimate = _capped_and_estimated(queryset.model)
        if exact <= COUNT_CAP:
            return exact
        self.count_is_estimate = True
        return max(estimate, COUNT_CAP + 1)

    @property
    def count_label(self) -> str:
        if self.count_is_capped:
            return str(_("more than {n}")).format(n=number_format(COUNT_CAP, force_grouping=True))
        if self.count_is_estimate:
            return str(_("about {n}")).format(n=number_format(self.count, force_grouping=True))
        return number_format(self.count, force_grouping=True)


def _capped_and_estimated(model: type[Model]) -> tuple[int, int]:
    table = connection.ops.quote_name(model._meta.db_table)
    capped = f"(SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT {COUNT_CAP + 1}) AS capped)"  # noqa: S608
    if connection.vendor == "postgresql":
        estimate = "(SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s))"
        params = [model._meta.db_table]
    else:
        pk = connection.ops.quote_name(str(model._meta.pk.column))
        estimate, params = f"(SELECT COALESCE(MAX({pk}), 0) FROM {table})", []  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {capped}, {estimate}", params)
        exact, estimated = cursor.fetchone()
    return int(exact), int(estimated or 0)


def search_address(term: str) -> str | None:
    """The normalized address a search box holds, or None when it holds none."""
    try:
        return normalize_email_fast(term)
    except InvalidEmail:
        return None


class BigTableChangeList(ChangeList):
    """Lets the admin trim the list's query (defer big columns) and look at a page's rows
    once they are known (to annotate them in one query, never per row)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        return self.model_admin.list_queryset(queryset)  # type: ignore[attr-defined]

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = self.model_admin.with_page_data(list(self.result_list))  # type: ignore[attr-defined]


class BigTableAdmin(admin.ModelAdmin):
    """Defaults for a changelist over millions of rows. Subclasses name `address_field` for
    the exact search box (the field must be indexed)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 100
    date_hierarchy = None
    address_field = "email"
    search_help_text = _("Exact address, e.g. anna@example.com (case and spaces don't matter).")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BigTableChangeList

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The changelist's query, filtered and ordered: defer what the rows don't show."""
        return queryset

    def with_page_data(self, rows: list[Any]) -> list[Any]:
        """The page's rows, once known: add what the columns need in a query or two."""
        return rows

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Exact match on the normalized address: an index lookup, never LIKE or UPPER()."""
        term = search_term.strip()
        if not term:
            return queryset, False
        address = search_address(term)
        if address is None:
            return queryset.none(), False
        return queryset.filter(**{self.address_field: address}), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = dict(extra_context or {})
        term = request.GET.get("q", "").strip()
        if term:
            extra_context["searched_address"] = search_address(term)
            extra_context["searched_term"] = term
        return super().changelist_view(request, extra_context)


class SchoolSlugFilter(admin.SimpleListFilter):
    """Filter by school slug typed into a box: lists no schools (there may be thousands) and
    costs no query of its own (the slug is joined, and unique)."""

    title = _("school (slug)")
    parameter_name = "school"
    template = "admin/deliverability/input_filter.html"
    field_path = "school__slug"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("", "")]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if value == "-":  # platform-wide rows
            return queryset.filter(**{self.field_path.removesuffix("__slug") + "__isnull": True})
        return queryset.filter(**{self.field_path: value[:100]})

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        others = [(k, v) for k, v in changelist.get_filters_params().items() if k != self.parameter_name]
        query = changelist.params.get("q")
        if query:
            others.append(("q", query))
        yield {
            "selected": bool(self.value()),
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "hidden": [(k, v[-1] if isinstance(v, list) else v) for k, v in others],
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
            "display": self.title,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }
