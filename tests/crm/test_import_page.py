"""The import page: managers and admins upload, preview, then confirm."""

from __future__ import annotations

import io
import json
import zipfile
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.import_views import SESSION_KEY
from crm.models import Deal, Team, User
from kpis.models import DirtyMonth
from tests.crm.test_import import GENERIC, MAPPING, TINY


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def tiny_files(**replace: str) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(name, replace.get(name, text).encode(), content_type="text/csv")
        for name, text in TINY.items()
    ]


def upload(client, files, fmt="maven", **extra):
    return client.post(reverse("crm_import"), {"format": fmt, "files": files, **extra})


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("crm_import"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", ["crm_import", "crm_import_confirm", "crm_import_cancel"])
def test_salespeople_may_not_import(world, login, url):
    client = login(world.ann)
    assert client.post(reverse(url)).status_code == 403
    assert client.get(reverse("crm_import")).status_code == 403


def test_confirm_and_cancel_only_accept_post(world, login):
    client = login(world.nina)
    assert client.get(reverse("crm_import_confirm")).status_code == 405
    assert client.get(reverse("crm_import_cancel")).status_code == 405


def test_the_page_shows_the_form_to_managers(world, login):
    response = login(world.nina).get(reverse("crm_import"))
    assert response.status_code == 200
    assert b'type="file"' in response.content and b"<legend>" in response.content


def test_upload_previews_then_confirm_imports(world, login, var_dir, django_capture_on_commit_callbacks):
    client = login(world.admin)

    response = upload(client, tiny_files())

    assert response.status_code == 200
    assert [c["create"] for _label, c in response.context["rows"]] == [2, 5, 2, 2, 6]
    assert not Deal.objects.exists()  # the preview writes nothing
    token = client.session[SESSION_KEY]["token"]
    assert (var_dir / "imports" / token / "sales_pipeline.csv").exists()
    assert b"Import now" in response.content

    with (
        mock.patch("kpis.tasks.nightly_recompute.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(reverse("crm_import_confirm"), {"token": token}, follow=True)

    assert Deal.objects.count() == 6 and User.objects.filter(username="zane.levy").exists()
    assert "Imported: 17 created, 0 updated, 0 unchanged" in response.content.decode()
    delay.assert_called_once()
    # The import's rows marked their months dirty: the recompute of what is
    # dirty (not a full one) brings them level.
    assert delay.call_args.kwargs == {"full": False}
    assert DirtyMonth.objects.exists()
    assert SESSION_KEY not in client.session
    assert not (var_dir / "imports" / token).exists()

    # The same files again: nothing to do, and no way to confirm.
    response = upload(client, tiny_files())
    assert response.context["totals"] == {"create": 0, "update": 0, "unchanged": 17, "skip": 0}
    assert b"Nothing to change" in response.content and b"Import now" not in response.content
    # Issue 19: its recompute never ran (mocked): the page says how to heal.
    assert b"waiting for a KPI recompute" in response.content


def test_bad_rows_are_listed_and_cannot_be_confirmed(world, login):
    client = login(world.admin)
    bad = TINY["sales_pipeline.csv"].replace("Lost", "Closed").replace("2017-01-10", "10/01/2017")

    response = upload(client, tiny_files(**{"sales_pipeline.csv": bad}))

    content = response.content.decode()
    assert response.status_code == 200
    assert "2 bad rows" in content
    assert "unknown deal stage “Closed”" in content and "engage_date “10/01/2017”" in content
    assert "Import now" not in content and SESSION_KEY not in client.session
    assert not Team.objects.exists() or Team.objects.count() == 2  # only world's teams


def test_a_zip_and_a_mapping_for_the_generic_format(world, login):
    client = login(world.admin)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in GENERIC.items():
            zf.writestr(name, text)
    archive = SimpleUploadedFile("export.zip", buffer.getvalue(), content_type="application/zip")
    mapping = SimpleUploadedFile("mapping.json", json.dumps(MAPPING).encode())

    response = upload(client, [archive], fmt="generic", mapping=mapping)

    # Team North and users nina and ann exist already (updated, not created).
    assert response.context["totals"]["create"] == 5 and response.context["totals"]["update"] == 3
    token = client.session[SESSION_KEY]["token"]
    client.post(reverse("crm_import_confirm"), {"token": token})
    assert Deal.objects.filter(external_ref__in=["D1", "D2", "D3"]).count() == 3


def test_wrong_files_get_field_errors(world, login):
    client = login(world.nina)
    response = upload(client, [SimpleUploadedFile("notes.txt", b"hello")])
    assert response.status_code == 200 and response.context["form"].errors["files"]

    mapping = SimpleUploadedFile("mapping.json", b"{not json")
    response = upload(client, tiny_files(), fmt="generic", mapping=mapping)
    assert "not valid JSON" in str(response.context["form"].errors["mapping"])

    response = upload(client, [SimpleUploadedFile("x.zip", b"not a zip")])
    assert "Not a readable zip file" in str(response.context["form"].errors["files"])


def test_a_tampered_or_stale_token_imports_nothing(world, login):
    client = login(world.admin)
    upload(client, tiny_files())

    response = client.post(reverse("crm_import_confirm"), {"token": "../../etc"}, follow=True)
    assert response.status_code == 200 and b"upload the files again" in response.content
    response = client.post(reverse("crm_import_confirm"), {}, follow=True)
    assert response.status_code == 200
    assert not Deal.objects.exists()

    other = login(world.steve)  # another manager cannot confirm nina's upload
    token = "x" * 32
    assert other.post(reverse("crm_import_confirm"), {"token": token}).status_code == 302
    assert not Deal.objects.exists()


def test_cancel_discards_the_upload(world, login, var_dir):
    client = login(world.admin)
    upload(client, tiny_files())
    token = client.session[SESSION_KEY]["token"]

    client.post(reverse("crm_import_cancel"))

    assert not (var_dir / "imports" / token).exists() and SESSION_KEY not in client.session
    assert client.post(reverse("crm_import_confirm"), {"token": token}).status_code == 302
    assert not Deal.objects.exists()


def test_nav_links_the_page_for_managers_only(world, login, client):
    assert reverse("crm_import").encode() in login(world.nina).get(reverse("home"), follow=True).content
    assert reverse("crm_import").encode() not in login(world.ann).get(reverse("home"), follow=True).content


def test_a_double_confirm_racing_on_unique_keys_is_not_a_500(world, login):
    from django.db import IntegrityError

    client = login(world.admin)
    upload(client, tiny_files())
    token = client.session[SESSION_KEY]["token"]

    with mock.patch("crm.importing.import_directory", side_effect=IntegrityError):
        response = client.post(reverse("crm_import_confirm"), {"token": token}, follow=True)

    assert response.status_code == 200 and b"just imported by another request" in response.content
    assert SESSION_KEY not in client.session


def csv_files(**files: str) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{name}.csv", text.encode(), content_type="text/csv")
        for name, text in files.items()
    ]


def test_a_manager_imports_into_their_own_team(world, login):
    client = login(world.nina)
    response = upload(
        client,
        csv_files(
            users="username,first_name,team\nzoe,Zoe,North\n",
            customers="name,owner\nNorthCo,zoe\n",
            deals="external_ref,owner,stage,customer,amount,opened_on\nN1,zoe,proposal,NorthCo,100,2026-01-05\n",
        ),
        fmt="generic",
    )
    assert response.context["totals"]["create"] == 3
    client.post(reverse("crm_import_confirm"), {"token": client.session[SESSION_KEY]["token"]})
    zoe = User.objects.get(username="zoe")
    assert zoe.team == world.north and zoe.role == "salesperson"
    assert Deal.objects.get(external_ref="N1").team == world.north


@pytest.mark.parametrize(
    "files",
    [
        {"users": "username,team\nnina,South\n"},  # moving themselves to another team
        {"users": "username,role\nann,manager\n"},  # promoting someone
        {"users": "username,first_name\nsam,Samuel\n"},  # editing another team's rep
        {"users": "username,team\nnewbie,South\n"},  # creating a rep elsewhere
        {"teams": "name\nNew team\n"},  # creating a team
        {"customers": "name,owner\nSouthCo,sam\n"},  # a customer for another team
        {"deals": "external_ref,owner,stage,amount\nS1,sam,proposal,10\n"},  # a deal for another team
    ],
)
def test_a_manager_cannot_reach_outside_their_team(world, login, files):
    client = login(world.nina)
    response = upload(client, csv_files(**files), fmt="generic")
    content = response.content.decode()
    assert "outside your team" in content and "Import now" not in content
    assert SESSION_KEY not in client.session
    world.nina.refresh_from_db()
    assert world.nina.team == world.north and world.nina.role == "manager"


def test_a_manager_cannot_take_over_another_teams_customer(world, login):
    from tests.factories import CustomerFactory

    CustomerFactory(name="SouthCo", owner=world.sam)
    response = upload(login(world.nina), csv_files(customers="name,owner\nSouthCo,nina\n"), fmt="generic")
    assert "outside your team" in response.content.decode()


def test_a_manager_without_a_team_may_not_import(world, login):
    world.nina.team = None
    world.nina.save()
    assert login(world.nina).get(reverse("crm_import")).status_code == 403
