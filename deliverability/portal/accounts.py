"""/accounts/: Django's own login, logout and password views, with the throttled login form
and the password-reset e-mail as a subject / text / html triplet in templates/emails/."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from deliverability.portal.throttling import ThrottledAuthenticationForm, password_reset_allowed


class PasswordResetView(auth_views.PasswordResetView):
    email_template_name = "emails/password_reset.txt"
    html_email_template_name = "emails/password_reset.html"
    subject_template_name = "emails/password_reset_subject.txt"

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        if not password_reset_allowed(self.request, form.cleaned_data["email"]):
            form.add_error(None, _("Too many password-reset requests. Please try again in an hour."))
            return self.form_invalid(form)
        return super().form_valid(form)


urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
