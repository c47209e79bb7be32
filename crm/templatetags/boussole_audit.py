"""{% audit_history record %}: the record's audit trail (django-auditlog),
newest first, on its page.

One query for the entries (with their actors), plus one per kind of related
record an edit changed (an owner reassigned: one for the users), however long
the trail. Creations are listed without their every field (the record's page
shows what it holds); auditlog's own changes_display_dict would query each
foreign key of each entry.
"""

from collections import defaultdict

from auditlog.models import LogEntry
from django import template
from django.core.exceptions import FieldDoesNotExist

register = template.Library()

SHOWN = 20


def _rows(entries: list[LogEntry]) -> list[dict]:
    rows, wanted = [], defaultdict(set)
    for entry in entries:
        model = entry.content_type.model_class()
        changes = []
        if entry.action != LogEntry.Action.CREATE:
            for name, values in (entry.changes_dict or {}).items():
                old, new = (list(values) + ["", ""])[:2] if isinstance(values, list) else ("", values)
                try:
                    field = model._meta.get_field(name)
                except FieldDoesNotExist:
                    changes.append({"label": name, "old": old, "new": new})
                    continue
                change = {"label": str(field.verbose_name), "old": old, "new": new, "field": field}
                if field.is_relation and field.related_model:
                    for value in (old, new):
                        if value not in (None, "", "None"):
                            wanted[field.related_model].add(str(value))
                elif field.choices:
                    labels = {str(k): str(v) for k, v in field.flatchoices}
                    change["old"], change["new"] = labels.get(str(old), old), labels.get(str(new), new)
                changes.append(change)
        rows.append({"entry": entry, "changes": changes})
    names = {
        related: {str(pk): str(obj) for pk, obj in related._base_manager.in_bulk(list(pks)).items()}
        for related, pks in wanted.items()
    }
    for row in rows:
        for change in row["changes"]:
            field = change.pop("field", None)
            if field is not None and field.is_relation and field.related_model in names:
                known = names[field.related_model]
                for side in ("old", "new"):
                    value = change[side]
                    change[side] = known.get(str(value), "—" if value in (None, "", "None") else value)
    return rows


@register.inclusion_tag("audit/_history.html")
def audit_history(record):
    entries = list(
        LogEntry.objects.get_for_object(record)
        .select_related("actor", "content_type")
        .order_by("-timestamp")[:SHOWN]
    )
    return {"rows": _rows(entries), "record": record}
