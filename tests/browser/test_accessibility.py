"""Every page, at desktop and phone size, in English and French: a screenshot
in test-artifacts/ and zero axe-core violations.

axe-core is vendored (static/vendor/axe-core/), loaded from the live server
like any static file, so the Content-Security-Policy allows it. Add a new
page to pages(); AXE_PAGES=name1,name2 narrows a run while fixing a page.
"""

import datetime as dt
import os
import re
from dataclasses import dataclass

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from api.models import Webhook
from crm.models import Activity, Stage
from team.models import PulseInvitation, PulseRound
from tests.browser.conftest import log_in
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    DealFactory,
    ProspectFactory,
)
from tests.kpis.factories_performance import seed_funnel, seed_realistic
from tests.surveys.factories import SentInvitationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@dataclass
class Page:
    name: str
    who: str | None  # a username, or None for a visitor
    path: str


def pages(ids: dict) -> list[Page]:
    """Every page a person can reach, as the person who normally opens it."""
    rep, manager, admin = "ann", "nina", "admin"
    return [
        Page("login", None, "/login/"),
        Page("survey-answer", None, f"/s/{ids['token']}/"),
        Page("dashboard", rep, "/dashboard/"),
        Page("scorecard-rep", rep, "/scorecard/"),
        Page("leaderboard-rep", rep, "/leaderboard/"),
        Page("deal-board", rep, "/deals/board/"),
        Page("deal-list", rep, "/deals/"),
        Page("deal-new", rep, "/deals/new/"),
        Page("deal-detail", rep, f"/deals/{ids['deal']}/"),
        Page("deal-detail-won", rep, f"/deals/{ids['won_deal']}/"),
        Page("deal-edit", rep, f"/deals/{ids['deal']}/edit/"),
        Page("prospect-list", rep, "/prospects/"),
        Page("prospect-new", rep, "/prospects/new/"),
        Page("prospect-detail", rep, f"/prospects/{ids['prospect']}/"),
        Page("prospect-edit", rep, f"/prospects/{ids['prospect']}/edit/"),
        Page("customer-list", rep, "/customers/"),
        Page("customer-new", rep, "/customers/new/"),
        Page("customer-detail", rep, f"/customers/{ids['customer']}/"),
        Page("customer-edit", rep, f"/customers/{ids['customer']}/edit/"),
        Page("my-week", rep, "/activities/"),
        Page("activity-new", rep, "/activities/new/"),
        Page("invitations", rep, "/surveys/invitations/"),
        Page("api-tokens", rep, "/profile/tokens/"),
        Page("profile", rep, "/profile/"),
        Page("error-403", rep, "/styleguide/"),
        Page("error-404", rep, "/no-such-page/"),
        Page("team", manager, "/team/"),
        Page("leaderboard-manager", manager, "/leaderboard/"),
        Page("deal-board-manager", manager, "/deals/board/"),
        Page("campaign-list", manager, "/campaigns/"),
        Page("campaign-new", manager, "/campaigns/new/"),
        Page("campaign-detail", manager, f"/campaigns/{ids['campaign']}/"),
        Page("campaign-edit", manager, f"/campaigns/{ids['campaign']}/edit/"),
        Page("targets", manager, "/targets/"),
        Page("sales-costs", manager, "/sales-costs/"),
        Page("sales-cost-import", manager, "/sales-costs/import/"),
        Page("survey-results", manager, "/surveys/results/"),
        Page("survey-list", manager, "/surveys/"),
        Page("survey-new", manager, "/surveys/new/"),
        Page("import", manager, "/import/"),
        Page("kpi-status", manager, "/kpis/status/"),
        Page("scorecard-company", admin, "/scorecard/"),
        Page("styleguide", admin, "/styleguide/"),
        Page("webhook-list", admin, "/webhooks/"),
        Page("webhook-new", admin, "/webhooks/new/"),
        Page("webhook-detail", admin, f"/webhooks/{ids['webhook']}/"),
        # Issues 12–15: process, team, forecast, what changed, alerts.
        Page("process", manager, "/process/"),
        Page("process-deals", manager, "/process/deals/?stage=qualification&what=entered"),
        Page("forecast", manager, "/forecast/"),
        Page("what-changed", manager, "/what-changed/?kpi=revenue"),
        Page("alerts", manager, "/alerts/"),
        Page("digest-settings", manager, "/digest/"),
        Page("digest-preview", manager, "/digest/preview/"),
        Page("training-list", manager, "/team/training/"),
        Page("training-new", manager, "/team/training/new/"),
        Page("certification-list", rep, "/team/certifications/"),
        Page("certification-new", rep, "/team/certifications/new/"),
        Page("coaching", manager, f"/team/coaching/{ids['rep']}/"),
        Page("pulse-results", manager, "/team/pulse/"),
        Page("pulse-schedule", admin, "/team/pulse/schedule/"),
        Page("pulse-answer", None, f"/team/p/{ids['pulse_token']}/"),
    ]


@pytest.fixture
def ids(world):
    month = timezone.localdate().replace(day=1)
    seed_realistic(world, month)
    seed_funnel(world, month)
    today = timezone.localdate()
    deal = DealFactory(
        owner=world.ann, title="Annual licence", amount="12278.62", stage=Stage.PROPOSAL, opened_on=today
    )
    won = DealFactory(
        owner=world.ann, customer=deal.customer, stage=Stage.WON, opened_on=today, closed_on=today
    )
    ActivityFactory(owner=world.ann, deal=deal, occurred_on=today - dt.timedelta(days=2), done=False)
    ActivityFactory(owner=world.ann, deal=deal, occurred_on=today, kind=Activity.Kind.MEETING, done=False)
    ActivityFactory(owner=world.ann, deal=deal, occurred_on=today - dt.timedelta(days=1), done=True)
    campaign = CampaignFactory(team=world.north)
    CampaignSpendFactory(campaign=campaign)
    invitation = SentInvitationFactory(customer=deal.customer)
    webhook = Webhook.objects.create(url="https://hooks.example.com/boussole", events=["deal.won"])
    pulse = PulseInvitation.objects.create(
        round=PulseRound.objects.create(opened_on=today.replace(day=1)), user=world.bob, team=world.north
    )
    return {
        "rep": world.ann.pk,
        "pulse_token": pulse.token,
        "deal": deal.pk,
        "won_deal": won.pk,
        "prospect": ProspectFactory(owner=world.ann).pk,
        "customer": deal.customer.pk,
        "campaign": campaign.pk,
        "token": invitation.token,
        "webhook": webhook.pk,
    }


def _axe(page) -> list[dict]:
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    return page.evaluate(
        # Every default rule, plus the one that catches a visible label missing
        # from the accessible name (off by default in axe-core).
        """async () => (await axe.run(document, {rules: {"label-content-name-mismatch": {enabled: true}}}))
          .violations.map(v => ({
            id: v.id, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)
        }))"""
    )


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_has_zero_axe_violations(browser, live_server, ids, screenshot, size, language):
    wanted = set(filter(None, os.environ.get("AXE_PAGES", "").split(",")))
    todo = [p for p in pages(ids) if not wanted or p.name in wanted]
    found = {}
    for who in dict.fromkeys(p.who for p in todo):
        context = browser.new_context(
            base_url=live_server.url,
            viewport=VIEWPORTS[size],
            is_mobile=size == "phone",
            has_touch=size == "phone",
            # axe-core is injected and run by the test itself: the page's CSP
            # (script-src 'self', no eval) is for the app's own scripts.
            bypass_csp=True,
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        if who:
            log_in(page, who, "pw")
            expect(page).not_to_have_url(re.compile(r"/login/"))
        # The language after logging in: log_in() reads the English labels.
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        for item in (p for p in todo if p.who == who):
            page.goto(item.path, wait_until="commit")
            # Poll until the document is parsed; no load-event wait.
            page.wait_for_function("() => document.readyState !== 'loading'")
            expect(page.locator("main")).to_be_visible()
            # The stylesheet has applied (every layout sets body's margin to
            # 0): contrast and overflow are measured on the styled page.
            expect(page.locator("body")).to_have_css("margin-top", "0px")
            violations = _axe(page)
            # Not an axe rule, but the same promise: nothing makes the page scroll sideways.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                wide = {"id": "horizontal-overflow", "help": f"{overflow}px too wide", "nodes": []}
                violations.append(wide)
            if violations:
                found[item.name] = violations
            screenshot(page, f"a11y-{item.name}-{size}-{language}")
        context.close()
    assert not found, "\n".join(
        f"{name}: {v['id']} ({v['help']}) {v['nodes']}" for name, vs in found.items() for v in vs
    )
