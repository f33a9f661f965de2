"""The OpenAPI document's request bodies, response bodies and error responses.

Handlers read their bodies themselves (strict JSON, :mod:`runwire_server.api.bodies`), so Litestar
sees no ``data`` parameter to document, and they answer plain dicts: :func:`documented` gives a
handler an operation class that carries the schemas of its body and of its responses instead.
Litestar documents its own error body (``status_code``, ``detail``, ``extra``) for the 400 it adds
to every operation with parameters; runwire's error handler (:mod:`runwire_server.api.errors`)
answers ``{"detail": "...", "errors": [...]}`` instead, so :func:`finish_document` corrects the
document each time Litestar builds it (:func:`finish_when_built`): on its first request, not
while the server starts, as are the pydantic schemas :func:`documented` gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

ERROR_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["detail"],
    properties={
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema()),
    },
    description="every error: a message, plus the individual problems when there are several",
)
JSON = "application/json"
REF = "#/components/schemas/"
ANY_ERROR = "default"
"""The response key OpenAPI gives every status an operation does not list."""


def json_schema(annotation: Any, mode: JsonSchemaMode) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON schema pydantic gives ``annotation`` (``mode``: as it validates or serialises),
    and the named schemas it refers to (``#/components/schemas/<name>``), itself among them when
    it is a model."""
    schema = TypeAdapter(annotation).json_schema(ref_template=REF + "{model}", mode=mode)
    named: dict[str, Any] = schema.pop("$defs", {})
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = str(schema.get("title") or annotation.__name__)
        named[name] = schema
        schema = {"$ref": REF + name}
    return schema, named


class DocumentedOperation(Operation):
    """An operation whose request body and responses were described by :func:`documented`."""

    named_schemas: ClassVar[dict[str, Any]] = {}
    """The schemas its body and responses refer to, for the document's components."""


IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255),
    description=(
        "a retry with the same key and request within 24 h gets the first answer (header "
        "Idempotent-Replayed: true) and starts nothing; the key with another request: 422 "
        "(docs/api.md, 'Idempotent submits'); send it once: two headers are a 400"
    ),
)
"""The header every submit route honours (:mod:`runwire_server.api.idempotency`)."""


def documented(
    body: Mapping[str, Any] | None = None,
    *,
    body_required: bool = True,
    body_description: str | None = None,
    replies: Mapping[int, tuple[Any, str]] | None = None,
    idempotent: bool = False,
    reply_media: str = JSON,
    headers: Sequence[Parameter] = (),
    reply_headers: Mapping[str, OpenAPIHeader] | None = None,
) -> type[DocumentedOperation]:
    """An ``operation_class`` for a route decorator: the body its handler reads, what it answers.

    Handlers read bodies themselves and build plain dicts, so Litestar can document neither.
    The schemas are pydantic's (JSON Schema 2020-12, as OpenAPI 3.1 uses); models among them are
    added to the document's components by :func:`finish_document`.

    :param body: per media type, the type the body has (a pydantic model, ``Any``, ``str``...).
    :param body_required: whether a request must have a body.
    :param replies: per status, the type of the response body and what the response means.
    :param idempotent: the route takes ``Idempotency-Key`` (a submit: ``**IDEMPOTENT``).
    :param reply_media: the media type of those replies (``text/event-stream`` for a stream).
    :param headers: request headers the handler reads itself (``Prefer``), as header parameters.
    :param reply_headers: per name, the headers those replies may carry (``Preference-Applied``).

    ``@post("/things", operation_class=documented({JSON: ThingCreate}, replies={201: (Thing, "made")}))``
    """

    class Documented(DocumentedOperation):
        _resolved: ClassVar[tuple[RequestBody | None, dict[str, OpenAPIResponse]] | None] = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            request_body, responses = self._resolve()
            if request_body is not None:
                self.request_body = request_body
            self.responses = {**(self.responses or {}), **responses}
            extra = [*headers, *([IDEMPOTENCY_KEY] if idempotent else [])]
            if extra:
                self.parameters = [*(self.parameters or []), *extra]

        @classmethod
        def _resolve(cls) -> tuple[RequestBody | None, dict[str, OpenAPIResponse]]:
            # the schemas are made when the document is (its first request), not at import
            if cls._resolved is None:
                named: dict[str, Any] = {}

                def schema_of(annotation: Any, mode: JsonSchemaMode) -> Schema:
                    schema, refs = json_schema(annotation, mode)
                    named.update(refs)
                    return cast("Schema", schema)  # a JSON schema as a dict: Litestar serialises it as it is

                request_body = None
                if body is not None:
                    request_body = RequestBody(
                        required=body_required,
                        description=body_description,
                        content={
                            media: OpenAPIMediaType(schema=schema_of(kind, "validation"))
                            for media, kind in body.items()
                        },
                    )
                responses = {
                    str(status): OpenAPIResponse(
                        description=description,
                        content={reply_media: OpenAPIMediaType(schema=schema_of(kind, "serialization"))},
                        headers=dict(reply_headers) if reply_headers else None,
                    )
                    for status, (kind, description) in (replies or {}).items()
                }
                cls.named_schemas = named
                cls._resolved = (request_body, responses)
            return cls._resolved

    return Documented


def _add_schemas(components: dict[str, Any], named: Mapping[str, Any], operation_id: str | None) -> None:
    for name, schema in named.items():
        known = components.setdefault(name, schema)
        if known != schema:  # two shapes of one name: a client generated from the document would be wrong
            raise ValueError(
                f"OpenAPI: operation {operation_id} documents a schema named {name!r} "
                "that differs from another of that name; give one of the models another name"
            )


def _litestar_error(response: OpenAPIResponse) -> bool:
    media = (response.content or {}).get("application/json")
    schema = media.schema if media is not None else None
    return isinstance(schema, Schema) and "status_code" in (schema.properties or {})


def finish_document(openapi: OpenAPI) -> None:
    """Complete ``openapi`` in place: the named schemas of :func:`documented` operations in its
    components, and runwire's error body for the statuses an operation does not list and in
    place of Litestar's own error body."""
    components = openapi.components.schemas = dict(openapi.components.schemas or {})
    for item in (openapi.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.patch, item.delete):
            if operation is None:
                continue
            if isinstance(operation, DocumentedOperation):
                _add_schemas(components, operation.named_schemas, operation.operation_id)
            responses = operation.responses = operation.responses or {}
            for status, response in responses.items():
                if isinstance(response, OpenAPIResponse) and _litestar_error(response):
                    responses[status] = OpenAPIResponse(
                        description=response.description,
                        content={"application/json": OpenAPIMediaType(schema=ERROR_BODY)},
                    )
            responses.setdefault(
                ANY_ERROR,
                OpenAPIResponse(
                    description="an error (400, 401, 403, 404, 409, 413, 422, 429, 503, ...)",
                    content={"application/json": OpenAPIMediaType(schema=ERROR_BODY)},
                ),
            )


class _FinishedOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, finishing each document it builds (:func:`finish_document`)."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        openapi = super()._build_openapi()
        finish_document(openapi)
        return openapi


def finish_when_built(app: Litestar) -> None:
    """Have ``app``'s OpenAPI document finished by :func:`finish_document` when Litestar builds
    it, on its first request (``/schema``), instead of building it while the server starts.

    Litestar adds its OpenAPI plugin itself, with no hook after a build: the plugin's class is
    swapped for a subclass that only adds that step.
    """
    app.plugins.get(OpenAPIPlugin).__class__ = _FinishedOpenAPIPlugin
