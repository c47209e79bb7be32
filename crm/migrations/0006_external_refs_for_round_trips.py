# Every deal, prospect and activity gets an external reference, so an export
# carries a key that an import matches on (docs/import.md). Rows that have
# none get one here, row by row: a column default would give them all the
# same value.

import uuid

import crm.models
from django.db import migrations, models


def fill_references(apps, schema_editor):
    for name in ("Deal", "Prospect", "Activity"):
        model = apps.get_model("crm", name)
        while True:
            batch = list(model.objects.filter(external_ref__isnull=True).only("pk")[:2000])
            if not batch:
                break
            for row in batch:
                row.external_ref = "bsl-" + uuid.uuid4().hex[:20]
            model.objects.bulk_update(batch, ["external_ref"])


def field(help_text, default):
    return models.CharField(
        blank=True,
        default=default,
        help_text=help_text,
        max_length=100,
        null=True,
        verbose_name="external reference",
    )


ACTIVITY = "The activity's key in the system it was imported from."
PROSPECT = "The prospect's key in the system it was imported from."
DEAL = "The deal's key in the system it was imported from."


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_deal_date_indexes"),
    ]

    operations = [
        migrations.AddField(model_name="activity", name="external_ref", field=field(ACTIVITY, None)),
        migrations.AddField(model_name="prospect", name="external_ref", field=field(PROSPECT, None)),
        migrations.RunPython(fill_references, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="activity", name="external_ref", field=field(ACTIVITY, crm.models.new_external_ref)
        ),
        migrations.AlterField(
            model_name="prospect", name="external_ref", field=field(PROSPECT, crm.models.new_external_ref)
        ),
        migrations.AlterField(
            model_name="deal", name="external_ref", field=field(DEAL, crm.models.new_external_ref)
        ),
        migrations.AddConstraint(
            model_name="activity",
            constraint=models.UniqueConstraint(fields=("external_ref",), name="activity_external_ref_unique"),
        ),
        migrations.AddConstraint(
            model_name="prospect",
            constraint=models.UniqueConstraint(fields=("external_ref",), name="prospect_external_ref_unique"),
        ),
    ]
