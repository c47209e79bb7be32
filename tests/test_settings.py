"""A bad setting stops start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def start(**env) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")
    }
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, settings.TIME_ZONE)",
        ],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_sqlite_and_filesystem_broker(tmp_path):
    result = start(BOUSSOLE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "sqlite3 filesystem:// Europe/Paris" in result.stdout
    assert (tmp_path / "celery" / "queue").is_dir()


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"TIME_ZONE": "Mars/Olympus_Mons"}, "TIME_ZONE"),
        ({"CURRENCY": "EURO"}, "CURRENCY"),
        ({"KPI_MIN_SAMPLE": "five"}, "KPI_MIN_SAMPLE"),
        ({"KPI_GROSS_MARGIN": "-1"}, "KPI_GROSS_MARGIN"),
        ({"EMAIL_PORT": "0"}, "EMAIL_PORT"),
    ],
)
def test_bad_value_names_the_variable(tmp_path, env, variable):
    result = start(BOUSSOLE_VAR_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]


def test_production_settings_start_with_the_required_values(tmp_path):
    result = start(
        BOUSSOLE_VAR_DIR=str(tmp_path),
        DEBUG="false",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="crm.example.com",
        DATABASE_URL="postgres://u@127.0.0.1:5432/db",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql redis://127.0.0.1:6379/0" in result.stdout
