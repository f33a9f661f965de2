"""The ``wait`` query parameter of the poll routes: long-polling (:mod:`runwire_server.run_endings`)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from runwire_server.run_endings import MAX_WAIT_S

Wait = Annotated[
    float,
    QueryParameter(
        ge=0,
        le=MAX_WAIT_S,
        description=(
            "runwire extension: answer as soon as the run ends, or after this many seconds "
            f"(0-{MAX_WAIT_S:g}) with the run as it is then; 0 or absent: answer at once"
        ),
    ),
]
"""Seconds a poll may wait for its run to end (0-30; default 0: answer at once)."""
