"""The import page: upload CSV files, see the preview, confirm to commit.

Managers and admins may import (salespeople get 403). The uploaded files wait
under var/imports/<token>/ between the preview and the confirmation; the token
is random and lives only in the uploader's session, so nobody else can commit
or read another person's upload.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.forms import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.crypto import constant_time_compare, get_random_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm import exporting, importing
from crm.import_forms import ConfirmImportForm, ImportUploadForm
from kpis.models import DirtyMonth, RecomputeRun
from kpis.tasks import enqueue

SESSION_KEY = "crm_import"
# Uploads nobody confirmed are removed after a day.
STALE_AFTER_SECONDS = 24 * 3600

ENTITY_LABELS = {
    "teams": gettext_lazy("Teams"),
    "users": gettext_lazy("People"),
    "products": gettext_lazy("Products"),
    "campaigns": gettext_lazy("Campaigns"),
    "customers": gettext_lazy("Customers"),
    "prospects": gettext_lazy("Prospects"),
    "deals": gettext_lazy("Deals"),
    "activities": gettext_lazy("Activities"),
    "campaign_spend": gettext_lazy("Campaign spend lines"),
    "sales_costs": gettext_lazy("Sales cost lines"),
    "targets": gettext_lazy("Targets"),
    "survey_responses": gettext_lazy("Survey responses"),
}


def _check_importer(user) -> None:
    # Admins import anything; a manager imports into their own team, so one
    # without a team cannot import (crm.importing scopes every row).
    if not (user.is_admin_role or (user.is_manager and user.team_id)):
        raise PermissionDenied


def _uploads_root() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def _discard(request: HttpRequest) -> None:
    """Forget the pending upload, and sweep uploads abandoned long ago."""
    pending = request.session.pop(SESSION_KEY, None)
    root = _uploads_root()
    if pending:
        shutil.rmtree(root / pending["token"], ignore_errors=True)
    if root.is_dir():
        cutoff = time.time() - STALE_AFTER_SECONDS
        for directory in root.iterdir():
            if directory.is_dir() and directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)


def _preview_context(plan: importing.Plan) -> dict:
    return {
        "plan": plan,
        # The kinds of record the files hold (every kind when they hold none).
        "rows": [(ENTITY_LABELS[e], counts) for e, counts in plan.counts().items() if any(counts.values())]
        or [(ENTITY_LABELS[e], counts) for e, counts in plan.counts().items()],
        "totals": plan.totals(),
    }


@login_required
def crm_import(request: HttpRequest) -> HttpResponse:
    _check_importer(request.user)
    context: dict = {}
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            _discard(request)
            # Letters and digits only: the token names a directory.
            token = get_random_string(32)
            directory = _uploads_root() / token
            directory.mkdir(parents=True)
            try:
                form.save_files(directory)
            except ValidationError as exc:
                shutil.rmtree(directory, ignore_errors=True)
                form.add_error("files", exc)
            else:
                fmt, mapping = form.cleaned_data["format"], form.cleaned_data["mapping"]
                plan = importing.build_plan(importing.load(directory, fmt, mapping), importer=request.user)
                context = _preview_context(plan)
                if plan.ok and plan.has_changes:
                    request.session[SESSION_KEY] = {"token": token, "format": fmt, "mapping": mapping}
                    context["confirm_form"] = ConfirmImportForm(initial={"token": token})
                else:
                    shutil.rmtree(directory, ignore_errors=True)
                    # Running an interrupted import again: say what heals it.
                    context["months_pending"] = plan.ok and DirtyMonth.objects.exists()
    else:
        form = ImportUploadForm()
    context["form"] = form
    return render(request, "crm/import.html", context)


@login_required
@require_POST
def crm_import_confirm(request: HttpRequest) -> HttpResponse:
    _check_importer(request.user)
    form = ConfirmImportForm(request.POST)
    pending = request.session.get(SESSION_KEY)
    directory = _uploads_root() / pending["token"] if pending else None
    if (
        not form.is_valid()
        or not pending
        or not constant_time_compare(form.cleaned_data["token"], pending["token"])
        or not directory.is_dir()
    ):
        messages.error(request, _("This import was already done or has expired: upload the files again."))
        return redirect("crm_import")
    # Planned again inside the transaction: the database may have moved since the preview.
    try:
        plan, result = importing.import_directory(
            directory, pending["format"], pending["mapping"], importer=request.user
        )
    except IntegrityError:
        # A double click on PostgreSQL: both requests planned the same new
        # rows and the second hit the unique keys. The first one imported.
        messages.info(request, _("These files were just imported by another request."))
        return redirect("crm_import")
    finally:
        _discard(request)
    if result is None:
        messages.error(
            request,
            _(
                "Nothing was imported: the data changed since the preview (%(count)s bad rows). "
                "Upload the files again to see them."
            )
            % {"count": len(plan.errors)},
        )
        return redirect("crm_import")
    # The import marked every month it touched dirty, in its own transaction
    # (database triggers): a recompute of what is dirty brings those periods
    # level, and the next nightly run would too if this one never ran.
    run = RecomputeRun.objects.create(requested_by=request.user, kind=RecomputeRun.Kind.IMPORT)
    transaction.on_commit(lambda: enqueue(run))
    messages.success(
        request,
        _(
            "Imported: %(create)s created, %(update)s updated, %(unchanged)s unchanged. "
            "The KPIs are being recomputed in the background: follow it on the KPI status page."
        )
        % plan.totals(),
    )
    return redirect("kpi_status")


@login_required
@require_POST
def crm_import_cancel(request: HttpRequest) -> HttpResponse:
    _check_importer(request.user)
    _discard(request)
    messages.info(request, _("The upload was discarded; nothing was imported."))
    return redirect("crm_import")


@login_required
def crm_export(request: HttpRequest) -> FileResponse:
    """Everything this person may import, as the generic format's files in
    one zip: what they can edit in a spreadsheet and import back."""
    _check_importer(request.user)
    # On disk past 20 MB: a big company's history never sits in memory whole.
    spool = tempfile.SpooledTemporaryFile(max_size=20 * 1024 * 1024)
    exporting.export_zip(spool, user=request.user)
    spool.seek(0)
    name = f"boussole-export-{timezone.localdate():%Y-%m-%d}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")
