"""Stored list totals kept by database triggers (issue 17: lists at 1M rows).

`Customer.revenue` (Σ its won deals) and `Customer.deal_count`, and
`Campaign.prospect_count`, are read by the customer and campaign lists
instead of a subquery per row. Each trigger adds the change (new rows minus
old rows) under the row lock, so two transactions changing one customer's
deals at once both count; PostgreSQL runs it once per statement over its
transition tables, SQLite has row triggers only.

Installed with the KPI engine's triggers after every `migrate`
(kpis.triggers.install), then the totals are recomputed once (`BACKFILLS`):
a table that Django's SQLite backend rebuilt, or a write made between a
migration and the install, can never leave a total wrong for good.
"""

CUSTOMER_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION boussole_totals_customer() RETURNS trigger LANGUAGE plpgsql AS $$
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

CUSTOMER_PG_TRIGGERS = [
    "CREATE TRIGGER boussole_totals_deal_insert AFTER INSERT ON crm_deal REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_customer()",
    "CREATE TRIGGER boussole_totals_deal_update AFTER UPDATE ON crm_deal "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_customer()",
    "CREATE TRIGGER boussole_totals_deal_delete AFTER DELETE ON crm_deal REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_customer()",
]

CUSTOMER_SQLITE_TRIGGERS = [
    """CREATE TRIGGER boussole_totals_deal_insert AFTER INSERT ON crm_deal
    WHEN NEW.customer_id IS NOT NULL BEGIN
        UPDATE crm_customer SET revenue = revenue + CASE WHEN NEW.stage = 'won' THEN NEW.amount ELSE 0 END,
            deal_count = deal_count + 1 WHERE id = NEW.customer_id;
    END""",
    """CREATE TRIGGER boussole_totals_deal_update AFTER UPDATE OF customer_id, stage, amount ON crm_deal BEGIN
        UPDATE crm_customer SET revenue = revenue - CASE WHEN OLD.stage = 'won' THEN OLD.amount ELSE 0 END,
            deal_count = deal_count - 1 WHERE id = OLD.customer_id;
        UPDATE crm_customer SET revenue = revenue + CASE WHEN NEW.stage = 'won' THEN NEW.amount ELSE 0 END,
            deal_count = deal_count + 1 WHERE id = NEW.customer_id;
    END""",
    """CREATE TRIGGER boussole_totals_deal_delete AFTER DELETE ON crm_deal
    WHEN OLD.customer_id IS NOT NULL BEGIN
        UPDATE crm_customer SET revenue = revenue - CASE WHEN OLD.stage = 'won' THEN OLD.amount ELSE 0 END,
            deal_count = deal_count - 1 WHERE id = OLD.customer_id;
    END""",
]

# Deals grouped once, and only the customers whose totals drifted written:
# two correlated subqueries per customer and a rewrite of every row made each
# `migrate` take minutes on 300,000 customers (and hold their row locks).
CUSTOMER_BACKFILL = """
UPDATE crm_customer SET revenue = t.revenue, deal_count = t.n
FROM (SELECT c.id, COALESCE(SUM(CASE WHEN d.stage = 'won' THEN d.amount END), 0) AS revenue,
             COUNT(d.id) AS n
      FROM crm_customer c LEFT JOIN crm_deal d ON d.customer_id = c.id GROUP BY c.id) t
WHERE t.id = crm_customer.id AND (crm_customer.revenue <> t.revenue OR crm_customer.deal_count <> t.n)
"""

CAMPAIGN_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION boussole_totals_campaign() RETURNS trigger LANGUAGE plpgsql AS $$
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

CAMPAIGN_PG_TRIGGERS = [
    "CREATE TRIGGER boussole_totals_prospect_insert AFTER INSERT ON crm_prospect "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_campaign()",
    "CREATE TRIGGER boussole_totals_prospect_update AFTER UPDATE ON crm_prospect "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_campaign()",
    "CREATE TRIGGER boussole_totals_prospect_delete AFTER DELETE ON crm_prospect "
    "REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION boussole_totals_campaign()",
]

CAMPAIGN_SQLITE_TRIGGERS = [
    """CREATE TRIGGER boussole_totals_prospect_insert AFTER INSERT ON crm_prospect
    WHEN NEW.source_campaign_id IS NOT NULL BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count + 1 WHERE id = NEW.source_campaign_id;
    END""",
    """CREATE TRIGGER boussole_totals_prospect_update AFTER UPDATE OF source_campaign_id ON crm_prospect BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count - 1 WHERE id = OLD.source_campaign_id;
        UPDATE crm_campaign SET prospect_count = prospect_count + 1 WHERE id = NEW.source_campaign_id;
    END""",
    """CREATE TRIGGER boussole_totals_prospect_delete AFTER DELETE ON crm_prospect
    WHEN OLD.source_campaign_id IS NOT NULL BEGIN
        UPDATE crm_campaign SET prospect_count = prospect_count - 1 WHERE id = OLD.source_campaign_id;
    END""",
]

CAMPAIGN_BACKFILL = """
UPDATE crm_campaign SET prospect_count = t.n
FROM (SELECT c.id, COUNT(p.id) AS n FROM crm_campaign c
      LEFT JOIN crm_prospect p ON p.source_campaign_id = c.id GROUP BY c.id) t
WHERE t.id = crm_campaign.id AND crm_campaign.prospect_count <> t.n
"""


def statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [CUSTOMER_PG_FUNCTION, *CUSTOMER_PG_TRIGGERS, CAMPAIGN_PG_FUNCTION, *CAMPAIGN_PG_TRIGGERS]
    return [*CUSTOMER_SQLITE_TRIGGERS, *CAMPAIGN_SQLITE_TRIGGERS]


BACKFILLS = [CUSTOMER_BACKFILL, CAMPAIGN_BACKFILL]
