"""The weekly digest: what a person would otherwise open Boussole to learn.

Built from snapshots (the figures, like for like, as the cards show them),
the stored alerts, and a few short lists a job may read (detractors to call
back, tasks due, deals without a next step). One email per person who wants
it, in their language; `send_digest` claims the (person, week) row before
the email goes, so a task that runs twice sends once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from alerts import text
from alerts.models import Alert, DigestDelivery, DigestPreference, week_of
from crm.models import Activity, Deal, Role, Stage, User
from crm.models import today as company_today
from kpis import breakdown as bd
from kpis import scorecards as sc
from kpis.definitions import COMPANY, REP, TEAM
from surveys.models import Response

logger = logging.getLogger(__name__)

HEADLINE = {
    REP: ["revenue", "deals_won", "win_rate", "quota_attainment", "open_pipeline_value", "activities"],
    TEAM: [
        "revenue",
        "deals_won",
        "win_rate",
        "quota_attainment",
        "open_pipeline_value",
        "activities",
        "nps",
    ],
    COMPANY: ["revenue", "deals_won", "win_rate", "new_customers", "open_pipeline_value", "nps"],
}
# "What changed most": the sums and rates a manager reads first.
MOVERS = ("revenue", "win_rate", "deals_won", "activities")
LIST_LIMIT = 10
DETRACTOR_DAYS = 30


class DigestSettingsForm(forms.ModelForm):
    class Meta:
        model = DigestPreference
        fields = ["weekly_digest", "language"]


def preference_for(user: User) -> DigestPreference:
    """The stored setting, or the default one (unsaved)."""
    found = DigestPreference.objects.filter(user=user).first()
    if found is not None:
        return found
    return DigestPreference(
        user=user, weekly_digest=DigestPreference.default_for(user), language=settings.LANGUAGE_CODE
    )


def recipients():
    """Active people with an email who want it: their setting, or by default
    managers and admins."""
    managers = Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(is_superuser=True)
    return (
        User.objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(digest__weekly_digest=True) | Q(digest__isnull=True) & managers)
        .order_by("pk")
    )


def _scope(user: User) -> sc.Scope:
    if user.is_admin_role:
        return sc.Scope(COMPANY, 0, _("Company"))
    if user.is_manager and user.team_id:
        return sc.Scope(TEAM, user.team_id, str(user.team))
    return sc.Scope(REP, user.pk, str(user))


@dataclass
class Message:
    subject: str
    text: str
    html: str
    language: str
    body: str = ""  # the HTML part's content, for the preview page


def _abs(base: str, path: str) -> str:
    return path if path.startswith("http") else f"{base}{path}"


def context_for(user: User, base: str, today: dt.date | None = None) -> dict:
    today = today or company_today()
    scope = _scope(user)
    period = sc.Period.containing(today)
    kpis = HEADLINE[scope.type]
    rows = sc.scorecard_snapshots(scope, period, kpis)
    cards = sc.build_cards(scope, period, kpis, rows)
    scorecard = reverse("scorecard") + "?" + urlencode({**period.params(), **scope.params()})
    headline = [
        {
            "label": c.defn.label, "value": c.display, "previous": c.previous_display,
            "change": c.change.text if c.change else "", "against": c.compare_label,
            "url": _abs(base, c.breakdown or scorecard),
        }
        for c in cards
    ]  # fmt: skip
    ctx = {"user": user, "scope": scope, "period": period, "headline": headline, "base": base,
           "alerts_url": _abs(base, reverse("alert_list")),
           "settings_url": _abs(base, reverse("digest_settings"))}  # fmt: skip
    alerts = list(Alert.objects.visible_to(user).open().order_by("-first_seen")[:LIST_LIMIT])
    ctx["alerts"] = [
        {"title": text.title(a), "why": text.why(a), "url": _abs(base, text.link(a))} for a in alerts
    ]
    ctx["forecast"] = _forecast(scope, base, today)
    ctx["stalled"] = _stalled(scope, base, today)
    if scope.type in (TEAM, COMPANY):
        ctx["movers"] = _movers(user, scope, period, base, today)
        ctx["detractors"] = _detractors(user, base, today)
        ctx["attainment"] = _attainment(scope, period, base)
    else:
        ctx["rank"] = _rank(user, period)
        ctx["tasks"] = _tasks(user, base, today)
        ctx["no_next_step"] = _no_next_step(user, base, today)
    return ctx


def _movers(user, scope, period, base, today) -> list[dict]:
    """The largest contributions to each headline change (kpis.breakdown)."""
    out = []
    for kpi in MOVERS:
        b = bd.build(user, scope, period, kpi, None, today)
        if b.change is None or not b.segments:
            continue
        top = max(b.segments, key=lambda s: abs(s.total))
        if not top.total:
            continue
        out.append({
            "label": b.defn.label, "change": b.fmt(b.change), "line": top.label, "part": b.fmt(top.total),
            "url": _abs(base, sc.breakdown_url(kpi, scope, period)),
        })  # fmt: skip
    return out


def _detractors(user, base, today) -> list[dict]:
    """Detractors of the last 30 days with no call done since they answered."""
    since = timezone.now() - dt.timedelta(days=DETRACTOR_DAYS)
    called = Activity.objects.filter(
        customer=OuterRef("invitation__customer"), kind=Activity.Kind.CALL, done=True,
        occurred_on__gte=OuterRef("submitted_at__date"),
    )  # fmt: skip
    rows = (
        Response.objects.visible_to(user)
        .filter(submitted_at__gte=since, nps_score__lte=6)
        .filter(~Exists(called))
        .select_related("invitation__customer", "invitation__owner")[:LIST_LIMIT]
    )
    return [
        {"customer": r.invitation.customer.name, "score": r.nps_score, "owner": str(r.invitation.owner or ""),
         "url": _abs(base, reverse("customer_detail", args=[r.invitation.customer_id]))}
        for r in rows
    ]  # fmt: skip


def _attainment(scope, period, base) -> dict | None:
    from kpis.models import KpiSnapshot

    if scope.type != TEAM:
        return None
    snap = (
        KpiSnapshot.objects.for_scope(TEAM, scope.id)
        .for_period("month", period.start)
        .filter(kpi="quota_attainment")
        .first()
    )
    if snap is None:
        return None
    return {
        "value": sc.format_value(snap.value, "percent"), "target": sc.format_value(snap.denominator, "money"),
        "url": _abs(base, reverse("team_page")),
    }  # fmt: skip


def _forecast(scope, base, today) -> dict | None:
    """The current quarter's latest forecast: P50 and the chance of target (1 query)."""
    from kpis.definitions import QUARTER
    from kpis.models import ForecastSnapshot
    from kpis.periods import period_start

    start = period_start(today, QUARTER)
    row = (
        ForecastSnapshot.objects.for_scope(scope.type, scope.id)
        .filter(kind=ForecastSnapshot.Kind.LATEST, granularity=QUARTER, period_start=start)
        .defer("details")
        .first()
    )
    if row is None:
        return None
    chance = row.chance_of_target
    return {
        "period": sc.Period(QUARTER, start).label, "p50": sc.format_value(row.p50, "money"),
        "p10": sc.format_value(row.p10, "money"), "p90": sc.format_value(row.p90, "money"),
        "target": sc.format_value(row.target, "money") if row.target is not None else None,
        "chance": sc.format_value(chance, "percent") if chance is not None else None,
        "url": _abs(base, text.forecast_url(scope)),
    }  # fmt: skip


def _stalled(scope, base, today) -> dict | None:
    """The scope's deals stalled past their stage threshold today, oldest
    first: the count is the `stalled_deals` KPI's, the list uses the
    thresholds the engine stored with it (2 queries). None before the KPI
    has been computed this month."""
    from alerts import stalled
    from kpis.models import KpiSnapshot

    rows = {
        (r.scope_type, r.scope_id): r
        for r in KpiSnapshot.objects.filter(
            Q(scope_type=scope.type, scope_id=scope.id) | Q(scope_type=COMPANY, scope_id=0),
            kpi=stalled.KPI, granularity="month", period_start=today.replace(day=1),
        ).only("scope_type", "scope_id", "value", "details")
    }  # fmt: skip
    mine, company = rows.get((scope.type, scope.id)), rows.get((COMPANY, 0))
    if mine is None or mine.value is None:
        return None
    thresholds = stalled.thresholds_from(company.details if company else None)
    deals = stalled.stalled_deals(thresholds, today)
    if scope.type == TEAM:
        deals = deals.filter(team_id=scope.id)
    elif scope.type == REP:
        deals = deals.filter(owner_id=scope.id)
    listed = deals.order_by("since", "pk").values("pk", "title", "stage", "team_id", "since")[:LIST_LIMIT]
    return {
        "count": int(mine.value),
        "deals": [
            {"line": text.stalled_deal(d["title"], d["stage"], (today - d["since"]).days,
                                       stalled.limit_for(thresholds, d["team_id"], d["stage"])),
             "url": _abs(base, reverse("deal_detail", args=[d["pk"]]))}
            for d in listed
        ],
        "url": _abs(base, text.process_url(scope)),
    }  # fmt: skip


def _rank(user, period) -> dict | None:
    if not user.team_id:
        return None
    members = [(m.pk, str(m)) for m in User.objects.filter(team_id=user.team_id, is_active=True,
                                                             role=Role.SALESPERSON)]  # fmt: skip
    rows = sc.leaderboard_rows("revenue", period, REP, members)
    mine = next((r for r in rows if r.key == user.pk), None)
    if mine is None or mine.rank is None:
        return None
    return {"rank": mine.rank, "of": len(members), "movement": mine.movement}


def _tasks(user, base, today) -> list[dict]:
    rows = Activity.objects.filter(owner=user, done=False, occurred_on__lte=today + dt.timedelta(days=7))
    rows = rows.select_related("deal", "customer", "prospect").order_by("occurred_on", "pk")[:LIST_LIMIT]
    out = []
    for a in rows:
        target = a.deal or a.customer or a.prospect
        url = reverse("activity_list")
        if a.deal_id:
            url = reverse("deal_detail", args=[a.deal_id])
        elif a.customer_id:
            url = reverse("customer_detail", args=[a.customer_id])
        out.append({"subject": a.subject, "day": a.occurred_on, "about": str(target or ""),
                    "late": a.occurred_on < today, "url": _abs(base, url)})  # fmt: skip
    return out


def _no_next_step(user, base, today) -> list[dict]:
    """Open deals with nothing planned: no activity not done yet, dated today or later."""
    planned = Activity.objects.filter(deal=OuterRef("pk"), done=False, occurred_on__gte=today)
    rows = (
        Deal.objects.filter(owner=user, stage__in=Stage.open_stages())
        .filter(~Exists(planned))
        .order_by("-amount", "pk")[:LIST_LIMIT]
    )
    return [
        {"title": d.title, "amount": sc.format_value(d.amount, "money"), "stage": d.get_stage_display(),
         "url": _abs(base, reverse("deal_detail", args=[d.pk]))}
        for d in rows
    ]  # fmt: skip


def build_message(user: User, base: str | None = None, today: dt.date | None = None) -> Message:
    """The digest as it would be sent to `user`: subject, text and HTML, in their language."""
    base = (base or settings.SITE_URL).rstrip("/")
    language = preference_for(user).language
    with translation.override(language):
        ctx = context_for(user, base, today)
        subject = _("Your week in Boussole: %(scope)s, %(period)s") % {
            "scope": ctx["scope"].label,
            "period": ctx["period"].label,
        }
        ctx["subject"] = subject
        body = render_to_string("alerts/email/digest_body.html", ctx)
        html = render_to_string("alerts/email/digest.html", {**ctx, "body": body})
        plain = render_to_string("alerts/email/digest.txt", ctx)
    return Message(str(subject), plain, html, language, body)


def send_digest(user_id: int, week: dt.date) -> bool:
    """Send one person's digest for a week, once: False when it was already
    sent (or claimed by a run in progress), or they no longer want it."""
    user = recipients().filter(pk=user_id).select_related("team").first()
    if user is None:
        return False
    try:
        with transaction.atomic():
            claim = DigestDelivery.objects.create(user=user, week=week)
    except IntegrityError:
        return False
    try:
        message = build_message(user)
        email = EmailMultiAlternatives(message.subject, message.text, to=[user.email])
        email.attach_alternative(message.html, "text/html")
        email.send()
    except Exception:
        # Not sent: free the week so a retry sends it.
        claim.delete()
        raise
    return True


def queue_weekly(today: dt.date | None = None, send=None) -> int:
    """Every recipient's digest for this week; `send(user_id, week_iso)`
    is the rate-limited task's delay by default."""
    from alerts.tasks import send_weekly_digest

    week = week_of(today or company_today())
    send = send or send_weekly_digest.delay
    count = 0
    for pk in recipients().values_list("pk", flat=True):
        send(pk, week.isoformat())
        count += 1
    return count
