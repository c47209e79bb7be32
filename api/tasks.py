"""Celery tasks for webhooks: thin wrappers that take ids (safe to run twice)."""

from celery import shared_task

from api import webhooks


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    webhooks.deliver(delivery_id)


@shared_task(ignore_result=True)
def retry_due_deliveries() -> int:
    """Every minute (beat): retries whose time has come, and first attempts
    a broker outage or a dead worker left behind."""
    ids = webhooks.due_deliveries()
    for delivery_id in ids:
        webhooks.deliver(delivery_id)
    return len(ids)
