"""Celery wrappers: each takes ids and calls a plain function in surveys.sending."""

from celery import shared_task

from . import sending


@shared_task
def send_due_invitations() -> dict[str, int]:
    return sending.send_due_invitations()


@shared_task
def send_invitation(invitation_id: int) -> bool:
    return sending.send_invitation(invitation_id)


@shared_task
def notify_detractor(response_id: int) -> int:
    return sending.notify_detractor(response_id)
