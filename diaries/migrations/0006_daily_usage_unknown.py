"""Daily usage counts the generations that ended without a usage report (issue 15): their tokens
are unknown, not zero. Filled from the generations that exist, by the site's local day, as
0005 filled the tokens."""

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import TruncDate


def fill_from_generations(apps, schema_editor):
    Generation = apps.get_model("diaries", "Generation")
    DailyUsage = apps.get_model("diaries", "DailyUsage")
    rows = (
        Generation.objects.filter(total_tokens__isnull=True)
        .exclude(status="generating")
        .annotate(day=TruncDate("started_at"))
        .values("entry__owner", "day")
        .annotate(unknown=Count("id"))
        .order_by()
    )
    for row in rows:
        usage, _created = DailyUsage.objects.get_or_create(user_id=row["entry__owner"], day=row["day"])
        usage.unknown_usage_generations = row["unknown"]
        usage.save(update_fields=["unknown_usage_generations"])


class Migration(migrations.Migration):
    dependencies = [
        ("diaries", "0005_daily_usage"),
    ]

    operations = [
        migrations.AddField(
            model_name="dailyusage",
            name="unknown_usage_generations",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(fill_from_generations, migrations.RunPython.noop),
    ]
