"""The admin site's face: titles, and an address lookup box on the index page."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from deliverability.portal.throttling import ThrottledAdminAuthenticationForm

admin.site.site_header = _("Deliverability back office")
admin.site.site_title = _("Deliverability")
admin.site.index_title = _("Support")
# The index gains an address box (the first thing an agent types); the template extends
# Django's own index, so other apps' sections stay as they are.
admin.site.index_template = "admin/deliverability/site_index.html"

# The admin's login is throttled like the portal's (failed attempts per user and per address).
admin.site.login_form = ThrottledAdminAuthenticationForm
