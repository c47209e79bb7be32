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

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_customer_deal_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A transition table exists only for the events that have it, and a
    -- statement naming one is planned only when its branch runs.
    IF TG_OP = 'INSERT' THEN
        UPDATE crm_customer c SET revenue = c.revenue + d.revenue, deal_count = c.deal_count + d.deals
        FROM (SELECT customer_id, SUM(CASE WHEN stage = 'won' THEN amount ELSE 0 END) AS revenue,
                     COUNT(*) AS deals
              FROM new_rows WHERE customer_id IS NOT NULL GROUP BY customer_id) d
        WHERE c.id = d.customer_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE crm_customer c SET revenue = c.revenue - d.revenue, deal_count = c.deal_count - d.deals
        FROM (SELECT customer_id, SUM(CASE WHEN stage = 'won' THEN amount ELSE 0 END) AS revenue,
                     COUNT(*) AS deals
              FROM old_rows WHERE customer_id IS NOT NULL GROUP BY customer_id) d
        WHERE c.id = d.customer_id;
    ELSE
        UPDATE crm_customer c SET revenue = c.revenue + d.revenue, deal_count = c.deal_count + d.deals
        FROM (SELECT customer_id, SUM(revenue) AS revenue, SUM(deals) AS deals FROM (
                  SELECT customer_id, CASE WHEN stage = 'won' THEN amount ELSE 0 END AS revenue, 1 AS deals
                  FROM new_rows WHERE customer_id IS NOT NULL
                  UNION ALL
                  SELECT customer_id, CASE WHEN stage = 'won' THEN -amount ELSE 0 END, -1
                  FROM old_rows WHERE customer_id IS NOT NULL
              ) changes GROUP BY customer_id) d
        WHERE c.id = d.customer_id AND (d.revenue <> 0 OR d.deals <> 0);
    END IF;
    RETURN NULL;
END $$;
"""
PG_TRIGGERS = [
    "CREATE TRIGGER crm_deal_totals_insert AFTER INSERT ON crm_deal REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_customer_deal_totals()",
    "CREATE TRIGGER crm_deal_totals_update AFTER UPDATE ON crm_deal "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_customer_deal_totals()",
    "CREATE TRIGGER crm_deal_totals_delete AFTER DELETE ON crm_deal REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_customer_deal_totals()",
]
SQLITE_TRIGGERS = [
    """CREATE TRIGGER crm_deal_totals_insert AFTER INSERT ON crm_deal WHEN NEW.customer_id IS NOT NULL BEGIN
        UPDATE crm_customer SET revenue = revenue + CASE WHEN NEW.stage = 'won' THEN NEW.amount ELSE 0 END,
            deal_count = deal_count + 1 WHERE id = NEW.customer_id;
    END""",
    """CREATE TRIGGER crm_deal_totals_update AFTER UPDATE OF customer_id, stage, amount ON crm_deal BEGIN
        UPDATE crm_customer SET revenue = revenue - CASE WHEN OLD.stage = 'won' THEN OLD.amount ELSE 0 END,
            deal_count = deal_count - 1 WHERE id = OLD.customer_id;
        UPDATE crm_customer SET revenue = revenue + CASE WHEN NEW.stage = 'won' THEN NEW.amount ELSE 0 END,
            deal_count = deal_count + 1 WHERE id = NEW.customer_id;
    END""",
    """CREATE TRIGGER crm_deal_totals_delete AFTER DELETE ON crm_deal WHEN OLD.customer_id IS NOT NULL BEGIN
        UPDATE crm_customer SET revenue = revenue - CASE WHEN OLD.stage = 'won' THEN OLD.amount ELSE 0 END,
            deal_count = deal_count - 1 WHERE id = OLD.customer_id;
    END""",
]
BACKFILL = """
UPDATE crm_customer SET
    revenue = COALESCE((SELECT SUM(amount) FROM crm_deal d WHERE d.customer_id = crm_customer.id
                        AND d.stage = 'won'), 0),
    deal_count = (SELECT COUNT(*) FROM crm_deal d WHERE d.customer_id = crm_customer.id)
"""


def create_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL)
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for statement in PG_TRIGGERS:
                cursor.execute(statement)
        elif schema_editor.connection.vendor == "sqlite":
            for statement in SQLITE_TRIGGERS:
                cursor.execute(statement)
        else:
            raise NotImplementedError("Boussole runs on PostgreSQL or SQLite.")


def drop_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in ("insert", "update", "delete"):
            if schema_editor.connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS crm_deal_totals_{name} ON crm_deal")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS crm_deal_totals_{name}")
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS crm_customer_deal_totals()")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_workspace_list_indexes"),
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
        migrations.RunPython(create_triggers, drop_triggers),
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
