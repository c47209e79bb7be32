"""The KPI status page and the Recompute now button."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from kpis import tasks
from kpis.models import KpiSnapshot, RecomputeRun

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def enqueued(monkeypatch):
    """Record the run ids sent to Celery instead of sending them."""
    sent = []
    monkeypatch.setattr(tasks.nightly_recompute, "delay", lambda run_id, full=False: sent.append(run_id))
    return sent


class TestAccess:
    def test_anonymous_is_sent_to_login(self, client):
        response = client.get(reverse("kpi_status"))
        assert response.status_code == 302 and reverse("login") in response.url

    @pytest.mark.parametrize("name", ["kpi_status", "kpi_recompute"])
    def test_salesperson_gets_403(self, world, login, name):
        client = login(world.ann)
        method = client.post if name == "kpi_recompute" else client.get
        assert method(reverse(name)).status_code == 403
        assert not RecomputeRun.objects.exists()

    def test_salesperson_cannot_poll_a_run(self, world, login):
        run = RecomputeRun.objects.create()
        assert login(world.ann).get(reverse("kpi_run", args=[run.pk]), **HTMX).status_code == 403

    def test_recompute_only_by_post(self, world, login):
        assert login(world.nina).get(reverse("kpi_recompute")).status_code == 405

    def test_unknown_run_is_404(self, world, login):
        assert login(world.admin).get(reverse("kpi_run", args=[999]), **HTMX).status_code == 404

    def test_nav_links_the_status_page_for_managers_only(self, world, login):
        assert reverse("kpi_status") in login(world.nina).get(reverse("home"), follow=True).content.decode()
        assert (
            reverse("kpi_status") not in login(world.ann).get(reverse("home"), follow=True).content.decode()
        )


class TestStatusPage:
    def test_shows_as_of_and_the_last_runs(self, world, login, django_assert_max_num_queries):
        KpiSnapshot.objects.create(
            kpi="revenue", scope_type="company", granularity="month",
            period_start="2025-03-01", computed_at=timezone.now(),
        )  # fmt: skip
        RecomputeRun.objects.create(status="done", progress=100, rows_written=42)
        client = login(world.nina)
        # session, user, last runs with who asked, latest computed_at, the
        # manager's team in the page header
        # +1: the months waiting for the next recompute.
        with django_assert_max_num_queries(6):
            response = client.get(reverse("kpi_status"))
        body = response.content.decode()
        assert response.status_code == 200
        assert "Last computed:" in body
        assert "Recompute now" in body
        assert "<td>Nightly</td>" in body  # who started the run

    def test_query_count_does_not_grow_with_runs(self, world, login, django_assert_max_num_queries):
        for _ in range(25):
            RecomputeRun.objects.create(requested_by=world.nina, status="done")
        client = login(world.admin)
        # session, user, last ten runs with who asked, latest computed_at
        with django_assert_max_num_queries(5):
            response = client.get(reverse("kpi_status"))
        assert response.content.decode().count("<tr>") == 11  # header + ten runs

    def test_no_snapshots_yet(self, world, login):
        body = login(world.nina).get(reverse("kpi_status")).content.decode()
        assert "have not been computed yet" in body


class TestRecomputeButton:
    def test_htmx_post_enqueues_and_polls(self, world, login, enqueued, django_capture_on_commit_callbacks):
        client = login(world.nina)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("kpi_recompute"), **HTMX)
        run = RecomputeRun.objects.get()
        assert enqueued == [run.pk]
        assert run.requested_by == world.nina and run.status == RecomputeRun.Status.QUEUED
        body = response.content.decode()
        assert f'hx-get="{reverse("kpi_run", args=[run.pk])}"' in body
        assert 'hx-trigger="every 2s"' in body and 'aria-live="polite"' in body

    def test_second_click_follows_the_active_run(
        self, world, login, enqueued, django_capture_on_commit_callbacks
    ):
        client = login(world.nina)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("kpi_recompute"), **HTMX)
            client.post(reverse("kpi_recompute"), **HTMX)
        assert RecomputeRun.objects.count() == 1 and len(enqueued) == 1

    def test_without_htmx_redirects_to_the_status_page(self, world, login, enqueued):
        response = login(world.admin).post(reverse("kpi_recompute"))
        assert response.status_code == 302 and response.url == reverse("kpi_status")

    def test_poll_shows_progress_then_completion(self, world, login):
        run = RecomputeRun.objects.create(status="running", progress=40)
        client = login(world.nina)
        body = client.get(reverse("kpi_run", args=[run.pk]), **HTMX).content.decode()
        assert 'value="40"' in body and "every 2s" in body
        run.finish(rows_written=1234, churned=0)
        body = client.get(reverse("kpi_run", args=[run.pk]), **HTMX).content.decode()
        assert "every 2s" not in body  # polling stops
        assert "1234 figures" in body and "Recompute now" in body

    def test_poll_without_htmx_goes_to_the_status_page(self, world, login):
        run = RecomputeRun.objects.create()
        response = login(world.nina).get(reverse("kpi_run", args=[run.pk]))
        assert response.status_code == 302

    def test_a_stale_run_does_not_block_the_button(
        self, world, login, enqueued, django_capture_on_commit_callbacks
    ):
        old = RecomputeRun.objects.create(status="running")
        RecomputeRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(hours=2))
        with django_capture_on_commit_callbacks(execute=True):
            login(world.nina).post(reverse("kpi_recompute"), **HTMX)
        assert RecomputeRun.objects.count() == 2

    def test_broker_down_fails_the_run_without_a_500(
        self, world, login, monkeypatch, django_capture_on_commit_callbacks
    ):
        def down(run_id, full=False):
            raise BrokerError("Connection refused")

        monkeypatch.setattr(tasks.nightly_recompute, "delay", down)
        with django_capture_on_commit_callbacks(execute=True):
            response = login(world.nina).post(reverse("kpi_recompute"), **HTMX)
        assert response.status_code == 200
        assert RecomputeRun.objects.get().status == RecomputeRun.Status.FAILED

    def test_template_tag_renders_for_managers_only(self, world):
        RecomputeRun.objects.create(status="done")
        template = Template("{% load kpis_tags %}{% recompute_button %}")
        request = RequestFactory().get("/")
        for user, shown in [(world.nina, True), (world.admin, True), (world.ann, False)]:
            html = template.render(Context({"user": user, "request": request}))
            assert ("Recompute now" in html) is shown
