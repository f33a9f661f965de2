"""Query parameters as Litestar's, hashed without copying every field first.

Litestar hashes a parameter (``KwargDefinition.__hash__``) as the sum of the hashes of its field
names, after copying every field's value with :func:`dataclasses.asdict`: ~1 M instructions for a
number that is the same for every parameter of the class. Python hashes each
``Annotated[T, parameter]`` when it is made (``typing`` caches them), once per query parameter
of a route handler: ~9.5 M instructions of ``runwire serve``'s ~3,100 M to its first answer.
"""

from __future__ import annotations

from litestar.params import QueryParameter


class Query(QueryParameter):
    """Litestar's :class:`~litestar.params.QueryParameter` (the same fields, checks and OpenAPI
    parameter), with the same hash computed once for the class instead of at every call."""

    def __hash__(self) -> int:
        return _HASH


_HASH = QueryParameter.__hash__(QueryParameter())
