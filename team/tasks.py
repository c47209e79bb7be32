"""Celery wrapper: the plain function is team.pulse.run."""

from celery import shared_task

from . import pulse


@shared_task
def run_pulse() -> dict[str, int]:
    return pulse.run()
