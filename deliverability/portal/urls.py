"""/portal/: the school owners' pages (DESIGN.md, "Interfaces")."""

from __future__ import annotations

from django.urls import path

from deliverability.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.index, name="index"),
    path("schools/<slug:school_slug>/", views.school_dashboard, name="dashboard"),
    path("schools/<slug:school_slug>/blocked/", views.blocked, name="blocked"),
    path(
        "schools/<slug:school_slug>/contacts/<int:contact_id>/request/",
        views.request_reinstatement,
        name="request",
    ),
    path("requests/", views.requests, name="requests"),
    path("requests/<int:request_id>/withdraw/", views.withdraw, name="withdraw"),
]
