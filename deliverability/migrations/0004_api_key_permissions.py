"""API keys in the staff groups: both groups see keys (which exist, whose they are, when last
used); leads also issue and revoke them in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_AGENTS = "Support agents"
DELIVERABILITY_LEADS = "Deliverability leads"

GRANTS = {
    SUPPORT_AGENTS: ["view_apikey"],
    DELIVERABILITY_LEADS: ["view_apikey", "add_apikey", "change_apikey"],
}


def grant(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    app_config = apps.get_app_config("deliverability")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = list(Permission.objects.filter(content_type__app_label="deliverability", codename__in=codenames))
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"permissions missing for {name}: {sorted(missing)}")
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        permissions = Permission.objects.filter(content_type__app_label="deliverability", codename__in=codenames)
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("deliverability", "0003_api_key"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
