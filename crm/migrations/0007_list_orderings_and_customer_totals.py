"""List orderings (keyset pagination) and the customer's stored lifetime figures.

Customer.revenue (Σ amount of its won deals) and Customer.deal_count are
filled once here, then kept by triggers on crm_deal, whatever writes the
deals (forms, imports, the admin, bulk SQL). Each trigger adds the change
(new rows minus old rows) to the customers concerned: `revenue = revenue +
delta` is re-read under the row lock, so two transactions changing deals of
one customer at once both count, where recomputing a sum from a snapshot
would lose one. PostgreSQL runs it once per statement over its transition
tables (a bulk insert of a million deals is one grouped UPDATE); SQLite has
row triggers only.
"""

import datetime
import django.db.models.functions.comparison
from decimal import Decimal
from django.db import migrations, models

BACKFILL = """
UPDATE crm_customer SET
    revenue = COALESCE((SELECT SUM(amount) FROM crm_deal d WHERE d.customer_id = crm_customer.id
                        AND d.stage = 'won'), 0),
    deal_count = (SELECT COUNT(*) FROM crm_deal d WHERE d.customer_id = crm_customer.id)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0006_external_refs_for_round_trips"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="activity",
            name="activity_owner_date_idx",
        ),
        migrations.RemoveIndex(
            model_name="customer",
            name="customer_owner_name_idx",
        ),
        migrations.RemoveIndex(
            model_name="customer",
            name="customer_team_name_idx",
        ),
        migrations.RemoveIndex(
            model_name="deal",
            name="deal_owner_opened_idx",
        ),
        migrations.RemoveIndex(
            model_name="deal",
            name="deal_team_opened_idx",
        ),
        migrations.RemoveIndex(
            model_name="prospect",
            name="prospect_owner_status_idx",
        ),
        migrations.AddField(
            model_name="customer",
            name="deal_count",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False, verbose_name="deals"),
        ),
        migrations.AddField(
            model_name="customer",
            name="revenue",
            field=models.DecimalField(
                db_default=Decimal("0"),
                decimal_places=2,
                default=Decimal("0"),
                editable=False,
                max_digits=14,
                verbose_name="revenue",
            ),
        ),
        # The triggers that keep it are installed after every migrate
        # (crm.db_triggers, through kpis.triggers.install).
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(fields=["occurred_on", "id"], name="activity_occurred_list"),
        ),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(fields=["owner", "occurred_on", "id"], name="activity_owner_occurred_list"),
        ),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(fields=["team", "occurred_on", "id"], name="activity_team_occurred_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["name", "id"], name="customer_name_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["owner", "name", "id"], name="customer_owner_name_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["team", "name", "id"], name="customer_team_name_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                django.db.models.functions.comparison.Coalesce(
                    "acquired_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="customer_acquired_list",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                models.F("owner"),
                django.db.models.functions.comparison.Coalesce(
                    "acquired_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="customer_owner_acquired_list",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                models.F("team"),
                django.db.models.functions.comparison.Coalesce(
                    "acquired_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="customer_team_acquired_list",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["revenue", "id"], name="customer_revenue_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["owner", "revenue", "id"], name="customer_owner_revenue_list"),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["team", "revenue", "id"], name="customer_team_revenue_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["opened_on", "id"], name="deal_opened_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["owner", "opened_on", "id"], name="deal_owner_opened_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["team", "opened_on", "id"], name="deal_team_opened_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["amount", "id"], name="deal_amount_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["owner", "amount", "id"], name="deal_owner_amount_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["team", "amount", "id"], name="deal_team_amount_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                django.db.models.functions.comparison.Coalesce(
                    "closed_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="deal_closed_list",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                models.F("owner"),
                django.db.models.functions.comparison.Coalesce(
                    "closed_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="deal_owner_closed_list",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                models.F("team"),
                django.db.models.functions.comparison.Coalesce(
                    "closed_on", models.Value(datetime.date(1, 1, 1)), output_field=models.DateField()
                ),
                models.F("id"),
                name="deal_team_closed_list",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["title", "id"], name="deal_title_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["owner", "title", "id"], name="deal_owner_title_list"),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["team", "title", "id"], name="deal_team_title_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["created_on", "id"], name="prospect_created_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["owner", "created_on", "id"], name="prospect_owner_created_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["team", "created_on", "id"], name="prospect_team_created_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["name", "id"], name="prospect_name_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["owner", "name", "id"], name="prospect_owner_name_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["team", "name", "id"], name="prospect_team_name_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["company", "id"], name="prospect_company_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["owner", "company", "id"], name="prospect_owner_company_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["team", "company", "id"], name="prospect_team_company_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["status", "id"], name="prospect_status_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["owner", "status", "id"], name="prospect_owner_status_list"),
        ),
        migrations.AddIndex(
            model_name="prospect",
            index=models.Index(fields=["team", "status", "id"], name="prospect_team_status_list"),
        ),
    ]
