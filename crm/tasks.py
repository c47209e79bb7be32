"""Celery tasks of the crm app (thin wrappers around plain functions)."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def recompute_kpis_after_import() -> int:
    """Recompute every KPI period after an import from the upload page.

    An import rewrites history (years of deals at once), so every period is
    recomputed, not only the nightly job's recent ones.
    """
    try:
        from kpis.compute import recompute
    except ImportError:
        logger.warning("KPIs not recomputed after the import: kpis.compute is not installed.")
        return 0
    return recompute()
