from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """The browsable API with the raw JSON form only: an HTML form is built
    from the read serializers, which accept nothing (see api/serializers.py)."""

    def get_rendered_html_form(self, data, view, method, request):
        return None
