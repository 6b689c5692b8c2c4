"""JSON reports: ``schema_version``, tool, version, time, machine, parameters and results."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from runtime_alloc import __version__
from runtime_alloc.cli._common import machine_info, utc_now

__all__ = ["SCHEMA_VERSION", "build_report", "load_schema", "write_json"]

#: Version of the report layout; bumped on any incompatible change.
SCHEMA_VERSION = 1


def load_schema(command: str) -> dict[str, Any]:
    """Return the JSON Schema shipped for ``command`` (``simulate`` or ``bench``).

    Runtime complexity: O(size of the schema file).
    """
    text = (
        resources.files("runtime_alloc.cli.reports")
        .joinpath(f"{command}.schema.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def build_report(command: str, parameters: Mapping[str, Any], **extra: Any) -> dict[str, Any]:  # noqa: ANN401
    """Return the common report envelope with ``extra`` keys (``results``, ...) appended.

    Runtime complexity: O(len(parameters) + len(extra)); ``extra`` is not copied.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"runtime-alloc {command}",
        "version": __version__,
        "created": utc_now(),
        "machine": machine_info(),
        "parameters": dict(parameters),
        **extra,
    }


def write_json(report: Mapping[str, Any], target: str) -> None:
    """Write ``report`` to the file ``target``, or to stdout when ``target`` is ``-``.

    Runtime complexity: O(size of the report).
    """
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")
