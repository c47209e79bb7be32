"""Issue 19: `check --deploy` is clean with production settings; HTTPS,
proxy trust and the Content-Security-Policy are as documented."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3Jx9-pQ_vR7sT2uW5yZ8aB1cD4eF6gH0iJ3kL5mN7oP9qR2sT4uV6wX8yZ0aB2c",
    "ALLOWED_HOSTS": "crm.example.com",
}


def run(code: str, **env) -> subprocess.CompletedProcess:
    # Not the test run's own switches (browser tests allow async-unsafe ORM calls).
    dropped = ("DEBUG", "SECRET_KEY", "TRUST_PROXY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, *code.split("\0")],
        cwd=ROOT,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing(tmp_path):
    result = run(
        "manage.py\0check\0--deploy\0--fail-level\0WARNING", BOUSSOLE_VAR_DIR=str(tmp_path), **PRODUCTION
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def settings_of(tmp_path, **env) -> str:
    code = (
        "-c\0import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    result = run(code, BOUSSOLE_VAR_DIR=str(tmp_path), **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_https_settings_come_from_the_environment(tmp_path):
    assert settings_of(tmp_path, **PRODUCTION) == "True 31536000 None"
    assert settings_of(tmp_path, **PRODUCTION, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="60") == (
        "False 60 None"
    )
    # The proxy's X-Forwarded-Proto is believed only when TRUST_PROXY says so.
    assert settings_of(tmp_path, **PRODUCTION, TRUST_PROXY="true").endswith(
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    )
    assert settings_of(tmp_path) == "False 0 None"  # development


@pytest.mark.django_db
def test_pages_send_a_strict_csp_and_no_inline_code(world, login):
    client = login(world.nina)
    for name in ("home", "deal_board", "scorecard", "leaderboard", "team_page", "survey_results", "login"):
        response = client.get(reverse(name), follow=True)
        assert response.status_code == 200, name
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        html = response.content.decode()
        # No inline script (JSON data blocks are not scripts), handler or style.
        for match in re.finditer(r"<script(?P<attrs>[^>]*)>", html):
            attrs = match["attrs"]
            assert "src=" in attrs or 'type="application/json"' in attrs, match[0]
        assert not re.search(r"\son[a-z]+=", html), name
        assert " style=" not in html and "<style" not in html, name
        # htmx 2's injected indicator <style> is turned off.
        assert '"includeIndicatorStyles": false' in html


def test_templates_hold_no_inline_code():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if "email" in path.parts:
            continue  # emails are not served under the CSP
        text = path.read_text()
        if re.search(r"\sstyle=\"|<style|\son(click|change|submit|load|input)=|<script>", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_beats_schedule_file_lives_under_var():
    from django.conf import settings

    from config.celery import app

    assert app.conf.beat_schedule_filename == str(Path(settings.VAR_DIR) / "celerybeat-schedule")


@pytest.mark.django_db
def test_the_production_recipe_creates_the_first_admin(monkeypatch):
    from django.core.management import call_command

    from crm.models import User

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-Long-pass-phrase-42")
    call_command("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
    admin = User.objects.get(username="admin")
    assert admin.is_admin_role and admin.check_password("a-Long-pass-phrase-42")


def test_readme_lists_every_setting_the_code_reads_and_docs_stay_inside():
    names = set()
    # The application's code (bench/ is the benchmarks' harness, docs/benchmarks.md).
    for path in (
        p for app in ("config", "crm", "kpis", "surveys", "api") for p in (ROOT / app).rglob("*.py")
    ):
        text = path.read_text()
        names |= set(re.findall(r'env_(?:str|int|bool|decimal|list|rate)\("([A-Z_]+)"', text))
        names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]"([A-Z_]+)"', text))
    names -= {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    readme = (ROOT / "README.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in readme) == []
    for doc in (ROOT / "docs").glob("*.md"):
        assert "../shared/kpi-spec" not in doc.read_text(), doc.name
