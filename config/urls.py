"""URLs of DESIGN.md ("Interfaces that others rely on")."""

from django.contrib import admin
from django.urls import include, path

from deliverability import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # Django's auth views, with the throttled login form and the password-reset e-mail templates.
    path("accounts/", include("deliverability.portal.accounts")),
    path("portal/", include("deliverability.portal.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("deliverability.api.urls")),
    path("webhooks/anymail/", include("anymail.urls")),
]
