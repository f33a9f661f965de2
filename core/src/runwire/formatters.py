"""The output-formatter contract: turn bytes a node produced into JSON-ready data."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import ConfigDict

from runwire.knownkeys import KnownKeys


class FormatterOptions(KnownKeys):
    """Options shared by every formatter; subclasses add their own (e.g. column remaps).

    An option the model does not declare is a configuration error naming it, with a suggestion:
    ``outputs.results.seperator: unknown field (did you mean 'separator'?)``.
    """

    model_config = ConfigDict(extra="forbid")


class OutputFormatter(ABC):
    """Base class of output formatters.

    Subclasses set ``format`` (e.g. ``"csv"``) and ``options_model``; an instance is built
    per configured output with its validated options, at start-up.
    """

    format: ClassVar[str]
    options_model: ClassVar[type[FormatterOptions]] = FormatterOptions

    def __init__(self, options: FormatterOptions | None = None) -> None:
        self.options = options if options is not None else self.options_model()

    @abstractmethod
    def format_bytes(self, data: bytes) -> Any:
        """Return JSON-ready data parsed from ``data``.

        :raises runwire.errors.NodeFailed: when ``data`` is not in this format.
        """
