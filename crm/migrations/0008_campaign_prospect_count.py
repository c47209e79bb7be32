"""Campaign.prospect_count, kept by triggers on crm_prospect (as 0003 keeps
Customer.revenue): +1/-1 per prospect naming the campaign as its source,
added under the row lock, once per statement on PostgreSQL."""

from django.db import migrations, models

BACKFILL = """
UPDATE crm_campaign SET prospect_count =
    (SELECT COUNT(*) FROM crm_prospect p WHERE p.source_campaign_id = crm_campaign.id)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0007_list_orderings_and_customer_totals"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="prospect_count",
            field=models.PositiveIntegerField(
                db_default=0, default=0, editable=False, verbose_name="prospects brought"
            ),
        ),
        # The triggers that keep it are installed after every migrate
        # (crm.db_triggers, through kpis.triggers.install).
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
