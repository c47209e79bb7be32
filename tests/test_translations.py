"""The French catalogue is complete, compiled and used by the pages."""

import gettext
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[1] / "locale" / "fr" / "LC_MESSAGES"


def po_entries() -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for every entry of django.po, header excluded."""
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = []
    for block in text.split("\n\n"):
        if block.lstrip().startswith("#~"):
            continue
        fuzzy = "#, fuzzy" in block or re.search(r"^#,.*\bfuzzy\b", block, re.M) is not None
        ids = re.findall(r'^msgid ((?:".*"\n?)+)', block + "\n", re.M)
        strs = re.findall(r'^msgstr(?:\[0\])? ((?:".*"\n?)+)', block + "\n", re.M)
        if not ids:
            continue
        join = lambda chunk: "".join(re.findall(r'"(.*)"', chunk))  # noqa: E731
        entries.append((join(ids[0]), join(strs[0]) if strs else "", fuzzy))
    return [e for e in entries if e[0]]


def test_every_string_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert len(entries) > 500
    assert [msgid for msgid, msgstr, _ in entries if not msgstr] == []
    assert [msgid for msgid, _, fuzzy in entries if fuzzy] == []


def test_compiled_catalogue_matches_the_source():
    with open(LOCALE / "django.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)._catalog
    compiled = {key if isinstance(key, str) else key[0] for key in catalogue if key}
    # .po escapes (\n, \") are stored unescaped in the .mo.
    source = {
        msgid.encode().decode("unicode_escape").encode("latin-1").decode() for msgid, _, _ in po_entries()
    }
    assert source - compiled == set(), "run `make messages` to recompile locale/fr"


def test_pages_speak_french(login, world):
    with translation.override("fr"):
        assert translation.gettext("Dashboard") == "Tableau de bord"
    client = login(world.ann)
    client.cookies["django_language"] = "fr"
    page = client.get(reverse("dashboard"), headers={"accept-language": "fr"}).content.decode()
    assert 'lang="fr"' in page
    assert "Tableau de bord" in page and "Se déconnecter" in page


@pytest.mark.parametrize("code", ["en", "fr"])
def test_language_switcher_sets_the_language(client, world, code):
    client.force_login(world.ann)
    response = client.post(reverse("set_language"), {"language": code, "next": "/deals/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == code
