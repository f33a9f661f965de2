"""The OpenAPI document's error responses in runwire's shape (``{"detail", "errors"?}``).

Litestar documents its own error body (``status_code``, ``detail``, ``extra``) for the 400 it
adds to every operation with parameters; runwire's error handler (:mod:`runwire_server.api.errors`)
answers ``{"detail": "...", "errors": [...]}`` instead, so the document is corrected once, when
the app is built.
"""

from __future__ import annotations

from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

ERROR_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["detail"],
    properties={
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema()),
    },
    description="every error: a message, plus the individual problems when there are several",
)


def document_errors(openapi: OpenAPI) -> None:
    """Give every documented 4xx/5xx response of ``openapi`` runwire's error body (in place)."""
    for item in (openapi.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.patch, item.delete):
            if operation is None or not operation.responses:
                continue
            for status, response in operation.responses.items():
                if status[:1] in ("4", "5") and isinstance(response, OpenAPIResponse):
                    operation.responses[status] = OpenAPIResponse(
                        description=response.description,
                        content={"application/json": OpenAPIMediaType(schema=ERROR_BODY)},
                    )
