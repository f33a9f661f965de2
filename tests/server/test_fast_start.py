"""Starting a command imports only what it uses: a plugin's SDK waits until its node or
provider is used, and the commands that need no server part import none (issue #17)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_SDKS = ("openai", "jwt", "httpx", "cryptography")
"""Imported by the LLM, HTTP and Auth0 plugins when a node runs or the provider is built."""
SERVER_ONLY = ("litestar", "sqlalchemy", "alembic", "uvicorn", "dramatiq", "redis", "pika", "rich")
"""What ``serve``, ``worker`` and the store commands use; ``run``, ``check`` and ``plugins``
(without progress) do not."""


def imported_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter running ``code``."""
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_loading_every_installed_plugin_imports_no_sdk() -> None:
    loaded = imported_after(
        "import runwire\nfrom runwire.plugins import Plugins\nassert not Plugins.load().problems"
    )
    assert loaded.isdisjoint(HEAVY_SDKS), loaded & set(HEAVY_SDKS)


def test_the_workflow_commands_import_no_sdk_and_no_server_part() -> None:
    code = (
        "from runwire_server.cli import main\n"
        "from runwire_server.cli.base import load_plugins\n"
        "plugins = load_plugins()\n"
        "plugins.describe()\n"
    )
    loaded = imported_after(code)
    assert loaded.isdisjoint(HEAVY_SDKS + SERVER_ONLY), loaded & set(HEAVY_SDKS + SERVER_ONLY)
