from django.apps import AppConfig


class UiConfig(AppConfig):
    """The design system: formatting, the style guide, error pages, the profile page."""

    name = "ui"
