"""Lost reasons become data (issue 12).

A managed LostReason list, seeded; Deal.lost_reason becomes a foreign key to
it and the free text of earlier versions moves to Deal.lost_note: every lost
deal's text is kept as its note, under the reason "other".
"""

import django.db.models.deletion
from django.db import migrations, models

SEED = [
    # code, English, French
    ("price", "Price", "Prix"),
    ("timing", "Timing", "Calendrier"),
    ("competitor", "Competitor", "Concurrent"),
    ("no_decision", "No decision", "Pas de décision"),
    ("product_fit", "Product fit", "Adéquation produit"),
    ("other", "Other", "Autre"),
]


def drop_triggers(apps, schema_editor):
    # The KPI triggers read crm_deal's columns by name; they are installed
    # again, matching the new columns, after migrate (kpis.apps).
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
                "WHERE NOT tgisinternal AND tgname LIKE 'boussole%%'"
            )
            for name, table in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON {table}')
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'boussole%'")
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def _check_now(schema_editor):
    # PostgreSQL refuses to ALTER a table with deferred constraint checks
    # pending from this transaction's UPDATEs: run them now.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


def seed_reasons(apps, schema_editor):
    LostReason = apps.get_model("crm", "LostReason")
    for position, (code, name, name_fr) in enumerate(SEED):
        LostReason.objects.update_or_create(code=code, defaults={"name": name, "name_fr": name_fr,
                                                                 "position": position * 10})  # fmt: skip


def keep_text_as_note(apps, schema_editor):
    Deal = apps.get_model("crm", "Deal")
    Deal.objects.filter(stage="lost").update(lost_note=models.functions.Substr("lost_reason", 1, 200))
    _check_now(schema_editor)


def lost_deals_to_other(apps, schema_editor):
    Deal = apps.get_model("crm", "Deal")
    LostReason = apps.get_model("crm", "LostReason")
    other = LostReason.objects.get(code="other")
    Deal.objects.filter(stage="lost").update(lost_reason=other)
    _check_now(schema_editor)


def notes_back_to_text(apps, schema_editor):
    Deal = apps.get_model("crm", "Deal")
    Deal.objects.filter(stage="lost", lost_reason_text="").update(lost_reason_text="Other")
    Deal.objects.filter(stage="lost").exclude(lost_note="").update(lost_reason_text=models.F("lost_note"))
    _check_now(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0010_closed_list_indexes_index_only"),
    ]

    # SQLite rebuilds crm_deal below; its triggers, and other tables' triggers
    # that read it, must be gone first, both ways.
    operations = [
        migrations.RunPython(drop_triggers, migrations.RunPython.noop),
        migrations.CreateModel(
            name="LostReason",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(max_length=40, unique=True, verbose_name="code")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("name_fr", models.CharField(blank=True, max_length=100, verbose_name="name in French")),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
            ],
            options={
                "verbose_name": "lost reason",
                "verbose_name_plural": "lost reasons",
                "ordering": ["position", "code"],
            },
        ),
        migrations.RunPython(seed_reasons, migrations.RunPython.noop),
        migrations.AddField(
            model_name="deal",
            name="lost_note",
            field=models.CharField(blank=True, max_length=200, verbose_name="lost note"),
        ),
        migrations.RunPython(keep_text_as_note, migrations.RunPython.noop),
        migrations.RenameField(model_name="deal", old_name="lost_reason", new_name="lost_reason_text"),
        migrations.AddField(
            model_name="deal",
            name="lost_reason",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deals",
                to="crm.lostreason",
                verbose_name="lost reason",
            ),
        ),
        migrations.RunPython(lost_deals_to_other, notes_back_to_text),
        migrations.RemoveField(model_name="deal", name="lost_reason_text"),
        migrations.AddConstraint(
            model_name="deal",
            constraint=models.CheckConstraint(
                condition=models.Q(("stage", "lost"), _negated=True)
                | models.Q(("lost_reason__isnull", False)),
                name="deal_lost_has_reason",
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, drop_triggers),
    ]
