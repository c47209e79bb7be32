"""Data migration: an English and a French default survey.

Invitations need a survey in the customer's language from day one; managers
can edit both afterwards. The French questions are written in French here
(not translated at run time) because they are data the manager owns.
"""

from django.db import migrations

DEFAULTS = [
    {
        "language": "en",
        "name": "Customer satisfaction (English)",
        "nps_question": "How likely are you to recommend us to a friend or colleague?",
        "csat_question": "Overall, how satisfied are you with our service?",
    },
    {
        "language": "fr",
        "name": "Satisfaction client (français)",
        "nps_question": (
            "Quelle est la probabilité que vous nous recommandiez à un ami ou à un collègue ?"
        ),
        "csat_question": "Dans l’ensemble, êtes-vous satisfait de notre service ?",
    },
]


def create_defaults(apps, schema_editor):
    Survey = apps.get_model("surveys", "Survey")
    for values in DEFAULTS:
        if not Survey.objects.filter(language=values["language"], is_default=True).exists():
            Survey.objects.create(is_default=True, is_active=True, ask_comment=True, **values)


def remove_defaults(apps, schema_editor):
    Survey = apps.get_model("surveys", "Survey")
    for values in DEFAULTS:
        Survey.objects.filter(
            language=values["language"], name=values["name"], invitations__isnull=True
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
