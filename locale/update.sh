#!/usr/bin/env bash
# Re-extract the strings of the owner portal, the login pages, the e-mails and the texts they
# show (explanations, eligibility, choice labels) into locale/pl/LC_MESSAGES/django.po, keeping
# existing translations, then compile django.mo. Needs GNU gettext (xgettext, msgmerge,
# msgfmt); the compiled .mo is committed, so running the project and its tests does not.
#
# Only the files below are scanned (the admin is English for now): copies are made in a
# temporary tree with the same relative paths, so the .po's references point at the real files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
sources=(
  deliverability/portal
  deliverability/explanations.py
  deliverability/reinstatement.py
  deliverability/models.py
  deliverability/taxonomy.py
  templates/portal
  templates/registration
  templates/emails
)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for source in "${sources[@]}"; do
  mkdir -p "$tmp/$(dirname "$source")"
  cp -R "$root/$source" "$tmp/$(dirname "$source")/"
done
cd "$tmp"
# LOCALE_PATHS[0] is the project's locale/: makemessages writes the real .po.
PYTHONPATH="$root" DJANGO_SETTINGS_MODULE=config.settings DATABASE_URL=sqlite:///:memory: \
  "$python" -m django makemessages --locale pl --no-obsolete --no-wrap
cd "$root"
msgfmt --check --statistics -o locale/pl/LC_MESSAGES/django.mo locale/pl/LC_MESSAGES/django.po
