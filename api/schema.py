"""OpenAPI additions: the error responses every operation may give.

drf-spectacular documents the successes; this hook adds the failures (a bad
request's field errors, missing credentials, a forbidden or unknown object,
the rate limit) so clients, and the schema-driven fuzz run, know every
status an endpoint answers with.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "Each field's messages; `non_field_errors` for the request as a whole. "
    "A malformed body or query gives `detail` instead.",
    "additionalProperties": True,
}
RESPONSES = {
    "400": ("ValidationError", "Invalid input: nothing was saved."),
    "401": ("Error", "No valid token (or session)."),
    "403": ("Error", "Your role may not do this."),
    "404": ("Error", "No such object among those you may see (or an invalid cursor)."),
    "429": ("Error", "Too many requests for this token: wait for Retry-After seconds."),
}


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, (schema, description) in RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                        },
                    },
                )
    return result


class ApiAutoSchema(AutoSchema):
    """Documents each list's filters (the view's `filter_serializer`) as query parameters."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        view = self.view
        if getattr(view, "action", None) == "list" and getattr(view, "filter_serializer", None):
            parameters = [*parameters, view.filter_serializer]
        return parameters
