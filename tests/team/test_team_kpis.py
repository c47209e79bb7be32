"""The team's KPIs (kpi-spec "The team") against a hand-computed fixture."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Activity, User
from kpis.compute import pending_months, recompute, refresh
from kpis.models import DirtyMonth
from team.kpis import working_days
from team.models import PulseAnswer, PulseRound
from tests.factories import ActivityFactory
from tests.kpis.conftest import d
from tests.team.factories import CertificationFactory, TrainingFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 15)
FEB, MAR, APR, MAY, JUN = (dt.date(2025, m, 1) for m in (2, 3, 4, 5, 6))


def run():
    return recompute(dt.date(2025, 1, 1), dt.date(2025, 6, 1), today=TODAY)


@pytest.fixture
def team(world):
    # Everyone joined long before the periods computed.
    User.objects.update(date_joined=timezone.make_aware(dt.datetime(2024, 1, 1)))
    return world


def test_working_days_count_monday_to_friday():
    assert working_days(dt.date(2025, 3, 1), dt.date(2025, 3, 31)) == 21  # starts on a Saturday
    assert working_days(dt.date(2025, 6, 1), dt.date(2025, 6, 15)) == 10
    assert working_days(dt.date(2025, 1, 1), dt.date(2025, 3, 31)) == 23 + 20 + 21
    assert working_days(dt.date(2025, 3, 2), dt.date(2025, 3, 1)) == 0


class TestTrainingHours:
    def test_confirmed_person_hours_per_rep_team_and_company(self, team, snap):
        TrainingFactory(date=dt.date(2025, 3, 10), hours=Decimal("3.5"), created_by=team.nina,
                        people=[team.ann, team.bob])  # fmt: skip
        # A salesperson's own record, not confirmed yet: counts nowhere.
        TrainingFactory(date=dt.date(2025, 3, 12), hours=4, created_by=team.sam, confirmed_by=None,
                        confirmed_at=None, people=[team.sam])  # fmt: skip
        # Planned for later this month: not completed yet.
        TrainingFactory(date=dt.date(2025, 6, 20), hours=2, created_by=team.nina, people=[team.ann])
        run()
        assert snap("training_hours", "rep", team.ann.pk, "month", MAR).value == d("3.5")
        assert snap("training_hours", "team", team.north.pk, "month", MAR).value == 7
        assert snap("training_hours", "team", team.south.pk, "month", MAR).value == 0
        assert snap("training_hours", "company", 0, "month", MAR).value == 7
        assert snap("training_hours", "company", 0, "quarter", dt.date(2025, 1, 1)).value == 7
        assert snap("training_hours", "rep", team.ann.pk, "month", JUN).value == 0

    def test_confirming_marks_the_month_and_the_nightly_run_counts_it(self, team, snap):
        session = TrainingFactory(date=dt.date(2025, 3, 12), hours=4, created_by=team.sam, confirmed_by=None,
                                  confirmed_at=None, people=[team.sam])  # fmt: skip
        run()
        DirtyMonth.objects.all().delete()
        session.confirm(team.steve)
        assert MAR in pending_months()
        refresh(today=TODAY)
        assert snap("training_hours", "team", team.south.pk, "month", MAR).value == 4


class TestActiveSellingDays:
    def test_distinct_working_days_with_a_done_call_meeting_or_email(self, team, snap):
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 3))  # Monday
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 3))  # same day again
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 4), kind=Activity.Kind.MEETING)
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 8))  # Saturday
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 5), done=False)  # planned
        ActivityFactory(owner=team.ann, occurred_on=dt.date(2025, 3, 6), kind=Activity.Kind.NOTE)
        run()
        ann = snap("active_selling_days", "rep", team.ann.pk, "month", MAR)
        assert (ann.numerator, ann.denominator, ann.value) == (2, 21, d("9.523810"))
        north = snap("active_selling_days", "team", team.north.pk, "month", MAR)  # ann + bob
        assert (north.numerator, north.denominator) == (2, 42)
        company = snap("active_selling_days", "company", 0, "month", MAR)  # four salespeople
        assert (company.numerator, company.denominator) == (2, 84)
        # The month under way: working days up to today.
        assert snap("active_selling_days", "rep", team.ann.pk, "month", JUN).denominator == 10

    def test_a_rep_who_joined_mid_month_counts_from_that_day(self, team, snap):
        User.objects.filter(pk=team.bob.pk).update(
            date_joined=timezone.make_aware(dt.datetime(2025, 3, 24, 9))
        )
        run()
        assert snap("active_selling_days", "rep", team.bob.pk, "month", MAR).denominator == 6  # 24–31 March
        assert snap("active_selling_days", "rep", team.bob.pk, "month", FEB).value is None  # not there yet


class TestCertifiedShare:
    def test_valid_confirmed_certifications_at_the_periods_end(self, team, snap):
        CertificationFactory(user=team.ann, obtained_on=dt.date(2025, 1, 15), expires_on=dt.date(2027, 1, 15))
        CertificationFactory(user=team.bob, obtained_on=dt.date(2024, 1, 1), expires_on=dt.date(2025, 3, 15))
        CertificationFactory(user=team.sam, confirmed_at=None, confirmed_by=None)  # waiting: not counted
        CertificationFactory(user=team.nina)  # a manager: not a salesperson
        run()
        north_feb = snap("certified_share", "team", team.north.pk, "month", FEB)
        assert (north_feb.numerator, north_feb.denominator, north_feb.value) == (2, 2, 100)
        assert snap("certified_share", "team", team.north.pk, "month", MAR).value == 50  # bob's expired
        assert snap("certified_share", "team", team.south.pk, "month", MAR).value == 0
        assert snap("certified_share", "company", 0, "month", MAR).value == 25
        assert snap("certified_share", "company", 0, "quarter", dt.date(2025, 1, 1)).value == 25
        assert snap("certified_share", "rep", team.ann.pk, "month", MAR) is None  # company and team only

    def test_a_new_certification_reaches_every_later_period(self, team, snap):
        run()
        DirtyMonth.objects.all().delete()
        CertificationFactory(user=team.sam, obtained_on=dt.date(2025, 2, 10), expires_on=None)
        refresh(today=TODAY)
        for month in (FEB, MAR, APR, MAY, JUN):
            assert snap("certified_share", "team", team.south.pk, "month", month).value == 50, month


def _answers(team_obj, day, scores):
    pulse = PulseRound.objects.get_or_create(opened_on=day.replace(day=1))[0]
    for score in scores:
        PulseAnswer.objects.create(round=pulse, team=team_obj, submitted_on=day, score=score)


class TestEnps:
    def test_five_answers_are_shown_four_are_withheld(self, team, snap):
        _answers(team.north, dt.date(2025, 4, 3), [10, 9, 8, 6, 3])  # 2 promoters, 2 detractors
        _answers(team.south, dt.date(2025, 4, 4), [10, 10, 10, 9, 2])
        _answers(team.north, dt.date(2025, 5, 5), [10, 10, 10, 10])  # four: withheld
        run()
        north = snap("enps", "team", team.north.pk, "month", APR)
        assert (north.value, north.numerator, north.denominator) == (0, 0, 5)
        assert north.details == {"promoters": 2, "passives": 1, "detractors": 2}
        south = snap("enps", "team", team.south.pk, "month", APR)
        assert south.value == 60  # (4 − 1) ÷ 5
        assert snap("enps", "company", 0, "month", APR).value == 30  # (6 − 3) ÷ 10
        for scope, sid in (("team", team.north.pk), ("company", 0)):
            may = snap("enps", scope, sid, "month", MAY)
            assert (may.value, may.numerator, may.denominator) == (None, None, None)
            assert may.details == {"suppressed": True}
        assert snap("enps", "rep", team.ann.pk, "month", APR) is None  # never per person

    def test_no_team_is_revealed_by_subtracting_it_from_the_company(self, team, snap):
        _answers(team.north, dt.date(2025, 3, 3), [10, 9, 8, 6, 3])
        _answers(team.south, dt.date(2025, 3, 4), [10, 10, 10, 2])  # four: withheld
        run()
        assert snap("enps", "team", team.south.pk, "month", MAR).value is None
        # company 9 − north 5 would give south's four: north is withheld too.
        assert snap("enps", "team", team.north.pk, "month", MAR).details == {"suppressed": True}
        company = snap("enps", "company", 0, "month", MAR)
        assert (company.numerator, company.denominator) == (2, 9)

    def test_no_month_is_revealed_by_subtracting_it_from_its_quarter_or_year(self, team, snap):
        _answers(team.north, dt.date(2025, 4, 3), [10, 9, 8, 6, 3, 10])  # six: shown
        _answers(team.north, dt.date(2025, 5, 5), [2, 2, 2])  # three: withheld
        _answers(team.south, dt.date(2025, 4, 7), [9, 9, 9, 9, 9])
        _answers(team.south, dt.date(2025, 5, 7), [9, 9, 9, 9, 9])
        run()
        assert snap("enps", "team", team.north.pk, "month", APR).value is not None
        # Q2 − April would give May's three answers: the quarter and the year are withheld.
        assert snap("enps", "team", team.north.pk, "quarter", APR).details == {"suppressed": True}
        assert snap("enps", "team", team.north.pk, "year", dt.date(2025, 1, 1)).details == {
            "suppressed": True
        }
        # South's quarter would be the company's minus north's withheld one:
        # withheld too, or the company minus south would give north's quarter.
        assert snap("enps", "team", team.south.pk, "quarter", APR).details == {"suppressed": True}
        assert snap("enps", "company", 0, "quarter", APR).denominator == 19
        # The company's May (8) minus south's May (5) would give north's three: south's May is withheld.
        assert snap("enps", "team", team.south.pk, "month", MAY).details == {"suppressed": True}
        assert snap("enps", "company", 0, "month", MAY).denominator == 8
