"""/portal/: the school owners' pages (DESIGN.md, "Interfaces")."""

from __future__ import annotations

from django.urls import path

from deliverability.portal import list_check, views

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
    path("schools/<slug:school_slug>/list-check/", list_check.list_check, name="list_check"),
    path(
        "schools/<slug:school_slug>/list-check/<int:check_id>/",
        list_check.list_check_detail,
        name="list_check_detail",
    ),
    path(
        "schools/<slug:school_slug>/list-check/<int:check_id>/status.json",
        list_check.list_check_status,
        name="list_check_status",
    ),
    path(
        "schools/<slug:school_slug>/list-check/<int:check_id>/report.csv",
        list_check.list_check_report,
        name="list_check_report",
    ),
    path("requests/", views.requests, name="requests"),
    path("requests/<int:request_id>/withdraw/", views.withdraw, name="withdraw"),
]
