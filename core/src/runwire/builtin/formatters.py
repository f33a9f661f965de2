"""Built-in output formatters: ``csv`` (with remapped columns and skip lists), ``json`` and ``text``."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runwire import jsontext
from runwire.errors import NodeFailed
from runwire.formatters import FormatterOptions, OutputFormatter
from runwire.hookspecs import hookimpl


def decode_text(data: bytes, what: str) -> str:
    """Decode UTF-8 (a BOM is dropped); :class:`NodeFailed` naming ``what`` when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NodeFailed(f"{what} is not UTF-8 text (byte {exc.start})") from None


class RemappedColumn(BaseModel):
    """Return column ``input_name`` as ``output_name``; drop rows whose value is in ``skip_list``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    input_name: str
    output_name: str
    skip_list: list[str] | None = None


class CsvOptions(FormatterOptions):
    """``remapped_columns``: when given, only these columns are returned, renamed."""

    model_config = ConfigDict(extra="forbid")

    remapped_columns: list[RemappedColumn] | None = Field(default=None)


class CsvFormatter(OutputFormatter):
    """A CSV with a header row → a list of row objects (all values are strings).

    With ``remapped_columns`` only the mapped columns are returned under their new names, and a
    row is dropped when a mapped column is missing from it or its value is in the column's
    ``skip_list`` (script-runner's behaviour).
    """

    format = "csv"
    options_model = CsvOptions
    options: CsvOptions

    def format_bytes(self, data: bytes) -> list[dict[str, Any]]:
        """Parse ``data`` as CSV rows, remapped and filtered as configured."""
        text = decode_text(data, "CSV output")
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise NodeFailed(f"CSV output does not parse: {exc}") from None
        columns = self.options.remapped_columns
        if columns is None:
            return [{k if k is not None else "": v for k, v in row.items()} for row in rows]
        out: list[dict[str, Any]] = []
        for row in rows:
            mapped: dict[str, Any] = {}
            for column in columns:
                value = row.get(column.input_name)
                if value is None or (column.skip_list is not None and value in column.skip_list):
                    break
                mapped[column.output_name] = value
            else:
                out.append(mapped)
        return out


class JsonFormatter(OutputFormatter):
    """A JSON document → its value."""

    format = "json"

    def format_bytes(self, data: bytes) -> Any:
        """Parse ``data`` as JSON."""
        text = decode_text(data, "JSON output")
        try:
            return jsontext.loads(text)
        except jsontext.JsonRefused as exc:
            what = "does not parse" if exc.malformed else "is refused"
            raise NodeFailed(f"JSON output {what}: {exc}", retryable=False) from None


class TextFormatter(OutputFormatter):
    """Bytes → a string (UTF-8; undecodable bytes are replaced, never an error)."""

    format = "text"

    def format_bytes(self, data: bytes) -> str:
        """Decode ``data`` as text."""
        return data.decode("utf-8", errors="replace")


@hookimpl
def register_output_formatters() -> list[type[OutputFormatter]]:
    """Core's output formatters."""
    return [CsvFormatter, JsonFormatter, TextFormatter]
