"""Dependencies point one way: plugins -> core <- server. Core loads no web or queue library."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
FORBIDDEN_IN_CORE = (
    "litestar",
    "dramatiq",
    "sqlalchemy",
    "httpx",
    "uvicorn",
    "redis",
    "openai",
    "runwire_server",
)


def test_importing_all_of_core_loads_no_web_or_queue_library() -> None:
    modules = sorted(
        "runwire." + ".".join(p.relative_to(REPO / "core/src/runwire").with_suffix("").parts)
        for p in (REPO / "core/src/runwire").rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from runwire.plugins import Plugins\n"
        "Plugins.load(blocked=['subprocess', 'http', 'llm_openai', 'auth0', 'task-door', 'execute-door'])\n"
        f"print(sorted({{k.split('.')[0] for k in sys.modules}} & set({FORBIDDEN_IN_CORE!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugins_and_core_never_import_the_server() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for root in ("core/src", "plugins")
        for p in (REPO / root).rglob("*.py")
        if "/tests/" not in str(p) and re.search(r"^\s*(from|import) runwire_server", p.read_text(), re.M)
    ]
    assert offenders == []
