"""Campaign.prospect_count, kept by triggers on crm_prospect (as 0003 keeps
Customer.revenue): +1/-1 per prospect naming the campaign as its source,
added under the row lock, once per statement on PostgreSQL."""

from django.db import migrations, models

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_campaign_prospect_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A transition table exists only for the events that have it, and a
    -- statement naming one is planned only when its branch runs.
    IF TG_OP = 'INSERT' THEN
        UPDATE crm_campaign c SET prospect_count = c.prospect_count + d.n
        FROM (SELECT source_campaign_id AS id, COUNT(*) AS n FROM new_rows
              WHERE source_campaign_id IS NOT NULL GROUP BY source_campaign_id) d
        WHERE c.id = d.id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE crm_campaign c SET prospect_count = c.prospect_count - d.n
        FROM (SELECT source_campaign_id AS id, COUNT(*) AS n FROM old_rows
              WHERE source_campaign_id IS NOT NULL GROUP BY source_campaign_id) d
        WHERE c.id = d.id;
    ELSE
        UPDATE crm_campaign c SET prospect_count = c.prospect_count + d.n
        FROM (SELECT id, SUM(n) AS n FROM (
                  SELECT source_campaign_id AS id, 1 AS n FROM new_rows WHERE source_campaign_id IS NOT NULL
                  UNION ALL
                  SELECT source_campaign_id, -1 FROM old_rows WHERE source_campaign_id IS NOT NULL
              ) changes GROUP BY id) d
        WHERE c.id = d.id AND d.n <> 0;
    END IF;
    RETURN NULL;
END $$;
"""
PG_TRIGGERS = [
    "CREATE TRIGGER crm_prospect_campaign_insert AFTER INSERT ON crm_prospect REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_campaign_prospect_count()",
    "CREATE TRIGGER crm_prospect_campaign_update AFTER UPDATE ON crm_prospect "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_campaign_prospect_count()",
    "CREATE TRIGGER crm_prospect_campaign_delete AFTER DELETE ON crm_prospect REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_campaign_prospect_count()",
]
SQLITE_TRIGGERS = [
    """CREATE TRIGGER crm_prospect_campaign_insert AFTER INSERT ON crm_prospect
    WHEN NEW.source_campaign_id IS NOT NULL BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count + 1 WHERE id = NEW.source_campaign_id;
    END""",
    """CREATE TRIGGER crm_prospect_campaign_update AFTER UPDATE OF source_campaign_id ON crm_prospect BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count - 1 WHERE id = OLD.source_campaign_id;
        UPDATE crm_campaign SET prospect_count = prospect_count + 1 WHERE id = NEW.source_campaign_id;
    END""",
    """CREATE TRIGGER crm_prospect_campaign_delete AFTER DELETE ON crm_prospect
    WHEN OLD.source_campaign_id IS NOT NULL BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count - 1 WHERE id = OLD.source_campaign_id;
    END""",
]
BACKFILL = """
UPDATE crm_campaign SET prospect_count =
    (SELECT COUNT(*) FROM crm_prospect p WHERE p.source_campaign_id = crm_campaign.id)
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL)
        if vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for statement in PG_TRIGGERS:
                cursor.execute(statement)
        elif vendor == "sqlite":
            for statement in SQLITE_TRIGGERS:
                cursor.execute(statement)
        else:
            raise NotImplementedError("Boussole runs on PostgreSQL or SQLite.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        for name in ("insert", "update", "delete"):
            on = " ON crm_prospect" if vendor == "postgresql" else ""
            cursor.execute(f"DROP TRIGGER IF EXISTS crm_prospect_campaign_{name}{on}")
        if vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS crm_campaign_prospect_count()")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_list_orderings_and_customer_totals"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="prospect_count",
            field=models.PositiveIntegerField(
                db_default=0, default=0, editable=False, verbose_name="prospects brought"
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
