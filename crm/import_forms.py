"""Forms of the import page (/import/)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from crm import importing

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file input that takes several files (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportUploadForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[
            (
                importing.MAVEN,
                _("Maven CRM export: sales_teams.csv, accounts.csv, products.csv, sales_pipeline.csv"),
            ),
            (
                importing.GENERIC,
                _(
                    "Boussole CSV: teams, users, products, campaigns, customers, prospects, deals, "
                    "activities, campaign_spend, sales_costs, targets, survey_responses (.csv)"
                ),
            ),
        ],
        initial=importing.MAVEN,
        widget=forms.RadioSelect,
    )
    files = MultipleFileField(
        label=_("CSV files or one zip"),
        help_text=_("Choose all the files at once (up to 50 MB in total)."),
        widget=MultipleFileInput(
            attrs={"accept": ".csv,.zip,text/csv,application/zip", "aria-describedby": "files-help"}
        ),
    )
    mapping = forms.FileField(
        label=_("Column mapping (optional, Boussole CSV only)"),
        required=False,
        help_text=_("A JSON file naming, per file, the source header of each Boussole column."),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".json,application/json", "aria-describedby": "mapping-help"}
        ),
    )

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        for upload in files:
            if not upload.name.lower().endswith((".csv", ".zip")):
                raise forms.ValidationError(
                    _("“%(name)s” is not a CSV or zip file."), params={"name": upload.name}
                )
        if sum(upload.size for upload in files) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The files are larger than 50 MB in total."))
        # One zip at most: the unpacked-size limit is per archive.
        if sum(upload.name.lower().endswith(".zip") for upload in files) > 1:
            raise forms.ValidationError(_("Upload one zip file at most."))
        return files

    def clean_mapping(self) -> dict | None:
        upload = self.cleaned_data.get("mapping")
        if not upload:
            return None
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The mapping is not a UTF-8 text file.")) from None
        mapping, problems = importing.parse_mapping(text, upload.name)
        if problems:
            raise forms.ValidationError([str(p) for p in problems])
        return mapping

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("mapping") and cleaned.get("format") != importing.GENERIC:
            self.add_error("mapping", _("A mapping only applies to the Boussole CSV format."))
        return cleaned

    def save_files(self, directory: Path) -> None:
        """Write the CSV files (and the CSVs inside zips) flat into directory."""
        for upload in self.cleaned_data["files"]:
            if upload.name.lower().endswith(".zip"):
                try:
                    importing.extract_zip(upload, directory)
                except ValueError as exc:
                    raise forms.ValidationError(str(exc)) from None
            else:
                target = directory / get_valid_filename(Path(upload.name).name)
                with target.open("wb") as handle:
                    for chunk in upload.chunks():
                        handle.write(chunk)


class ConfirmImportForm(forms.Form):
    token = forms.CharField(max_length=64)
