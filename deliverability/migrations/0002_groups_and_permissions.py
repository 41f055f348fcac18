"""The two staff groups of DESIGN.md ("Permissions") with their permissions.

Later migrations that add models or permissions extend these groups in migrations of their own.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_AGENTS = "Support agents"
DELIVERABILITY_LEADS = "Deliverability leads"

VIEWED_MODELS = [
    "school",
    "membership",
    "contact",
    "bounceevent",
    "suppression",
    "suppressionchange",
    "reinstatementrequest",
    "incident",
    "auditevent",
]
AGENT_PERMISSIONS = [f"view_{model}" for model in VIEWED_MODELS] + ["decide_request"]
LEAD_PERMISSIONS = AGENT_PERMISSIONS + [
    "approve_high_risk",
    "suppress_manually",
    "lift_suppression",
    "import_suppressions",
    "export_suppressions",
    "decide_incident",
    "rollback_incident",
    "erase_address",
]


def create_groups(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    app_config = apps.get_app_config("deliverability")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in [(SUPPORT_AGENTS, AGENT_PERMISSIONS), (DELIVERABILITY_LEADS, LEAD_PERMISSIONS)]:
        group, _ = Group.objects.get_or_create(name=name)
        permissions = list(Permission.objects.filter(content_type__app_label="deliverability", codename__in=codenames))
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"permissions missing for {name}: {sorted(missing)}")
        group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[SUPPORT_AGENTS, DELIVERABILITY_LEADS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deliverability", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
