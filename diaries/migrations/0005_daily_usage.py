"""Daily usage per person (issue 13): what counts against the daily quota, kept when entries
are deleted. Filled from the generations that exist, by the site's local day (the quota's day
when no other time zone is active), so today's count goes on where it was."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate


def fill_from_generations(apps, schema_editor):
    Generation = apps.get_model("diaries", "Generation")
    DailyUsage = apps.get_model("diaries", "DailyUsage")
    rows = (
        Generation.objects.annotate(day=TruncDate("started_at"))
        .values("entry__owner", "day")
        .annotate(generations=Count("id"), tokens=Coalesce(Sum("total_tokens"), 0))
        .order_by()
    )
    DailyUsage.objects.bulk_create(
        DailyUsage(
            user_id=row["entry__owner"],
            day=row["day"],
            generations=row["generations"],
            tokens=row["tokens"],
        )
        for row in rows
    )


class Migration(migrations.Migration):

    dependencies = [
        ('diaries', '0004_moderators_group'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('generations', models.PositiveIntegerField(default=0)),
                ('tokens', models.PositiveBigIntegerField(default=0)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='diary_usage', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'daily usage',
                'verbose_name_plural': 'daily usage',
                'ordering': ('-day', 'user'),
                'constraints': [models.UniqueConstraint(fields=('user', 'day'), name='one_usage_row_per_user_per_day')],
            },
        ),
        migrations.RunPython(fill_from_generations, migrations.RunPython.noop),
    ]
