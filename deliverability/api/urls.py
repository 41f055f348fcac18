"""URLs under /api/v1/ (config/urls.py includes this module there)."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from deliverability.api import bounces, views
from deliverability.api.exceptions import api_not_found

app_name = "api"

# The schema and its docs page are public: they describe the API, they don't use it.
_public: dict[str, list[object]] = {
    "authentication_classes": [],
    "permission_classes": [AllowAny],
    "throttle_classes": [],
}

urlpatterns = [
    path("check/", views.CheckView.as_view(), name="check"),
    path("contacts/", views.ContactsView.as_view(), name="contacts"),
    path("suppressions/", views.SuppressionListView.as_view(), name="suppressions"),
    path("schema/", SpectacularAPIView.as_view(**_public), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **_public), name="docs"),
]

# --- Bounces and the change feed (DESIGN.md; built with the policy services) ---------------
urlpatterns += [
    path("bounces/", bounces.BouncesView.as_view(), name="bounces"),
    path("suppressions/changes/", bounces.SuppressionChangesView.as_view(), name="suppression-changes"),
]
# --------------------------------------------------------------------------------------------

# Last: any other /api/v1/ path is a JSON 404 (and no APPEND_SLASH redirect, which would drop
# a POST body).
urlpatterns += [re_path(r"^(?P<path>.*)$", api_not_found, name="not-found")]
