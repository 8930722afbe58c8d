"""The "Moderators" group, with exactly the permissions moderation needs.

Members (who also need `is_staff` to sign in to the admin) can:
- see the entries that are shared, reported, flagged or hidden, with their generations
  (never a private, unflagged, unreported diary: the admin enforces it per object), and hide,
  restore, clear and stop sharing them (`moderate_diaryentry`) — never edit nor delete them;
- see and resolve or dismiss reports;
- read the audit trail (nobody can change it);
- see accounts with their usage, deactivate and reactivate them, and set their daily limit.
"""

from django.db import migrations

GROUP = "Moderators"
PERMISSIONS = (
    ("diaryentry", "view_diaryentry"),
    ("diaryentry", "moderate_diaryentry"),
    ("generation", "view_generation"),
    ("report", "view_report"),
    ("report", "change_report"),
    ("moderationevent", "view_moderationevent"),
    ("account", "view_account"),
    ("account", "change_account"),
)


def create_moderators(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); make ours now.
    app_config = apps.get_app_config("diaries")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = []
    for model, codename in PERMISSIONS:
        permissions.append(
            Permission.objects.get(
                content_type__app_label="diaries", content_type__model=model, codename=codename
            )
        )
    group, _created = Group.objects.get_or_create(name=GROUP)
    group.permissions.set(permissions)


def remove_moderators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("diaries", "0003_moderation"),
    ]

    operations = [migrations.RunPython(create_moderators, remove_moderators)]
