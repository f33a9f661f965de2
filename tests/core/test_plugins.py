"""The plugin manager: built-ins, fake plugins, duplicates, broken and blocked entry points."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

import runwire
from runwire.auth import AuthProvider, AuthServices, Principal
from runwire.binders import BinderConfig, InputBinder, RequestParts
from runwire.errors import AuthRefused, PluginApiMismatch, PluginConflict
from runwire.formatters import OutputFormatter
from runwire.nodes import NodeContext, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager


def test_builtins_are_registered_through_the_manager() -> None:
    plugins = Plugins(get_plugin_manager(load_entry_points=False))
    assert plugins.node_type("trigger-node", None) is not None
    assert plugins.node_type("if-else-node", "If") is not None
    assert plugins.node_type("output-node", None) is not None
    assert {"none", "api-key"} <= set(plugins.auth_providers.items)
    names = {info.name for info in plugins.describe()}
    assert "runwire.builtin.nodes" in names


class Hello(NodeType):
    type = "basic-node"
    name = "Hello"

    async def run(self, data: object, ctx: NodeContext) -> NodeOutput:
        return NodeOutput({"content": "hello"})


class HelloPlugin:
    @runwire.hookimpl
    def register_node_types(self) -> list[type[NodeType]]:
        return [Hello]


def test_a_fake_plugin_registers_through_the_real_manager() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(HelloPlugin(), name="hello-plugin")
    try:
        plugins = Plugins(pm)
        assert isinstance(plugins.node_type("basic-node", "Hello"), Hello)
        assert plugins.node_type("basic-node", "Other") is None
        info = next(i for i in plugins.describe() if i.name == "hello-plugin")
        assert info.node_types == ["basic-node:Hello"]
    finally:
        pm.unregister(name="hello-plugin")
    assert Plugins(pm).node_type("basic-node", "Hello") is None


def test_two_plugins_claiming_one_node_type_is_a_clear_error() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(HelloPlugin(), name="first-hello")
    pm.register(HelloPlugin(), name="second-hello")
    with pytest.raises(PluginConflict) as info:
        Plugins(pm)
    message = str(info.value)
    assert "'basic-node' named 'Hello'" in message
    assert "first-hello" in message and "second-hello" in message


def _fake_distribution(root: Path, dist: str, entry: str, module: str, source: str) -> None:
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[runwire]\n{entry} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    import runwire
    from runwire.nodes import NodeOutput, NodeType

    class Shout(NodeType):
        type = "shout-node"

        async def run(self, data, ctx):
            return NodeOutput({"content": "HEY"})

    @runwire.hookimpl
    def register_node_types():
        return [Shout]
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _fake_distribution(
        tmp_path, "broken-dist", "broken", "rw_broken_plugin", "raise ImportError('missing libfoo')\n"
    )
    _fake_distribution(tmp_path, "shout-dist", "shout", "rw_shout_plugin", GOOD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_broken_entry_point_is_reported_and_others_still_load(plugin_dir: Path) -> None:
    plugins = Plugins.load(blocked=[])
    errors = [e for e in plugins.load_errors if e.name == "broken"]
    assert len(errors) == 1
    assert errors[0].distribution == "broken-dist"
    assert "ImportError: missing libfoo" in str(errors[0])
    assert plugins.node_type("shout-node", None) is not None
    info = next(i for i in plugins.describe() if i.name == "shout")
    assert info.distribution == "shout-dist" and info.node_types == ["shout-node"]


def test_blocked_plugins_from_the_environment(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWIRE_BLOCKED_PLUGINS", "shout, broken")
    plugins = Plugins.load()
    assert plugins.node_type("shout-node", None) is None
    assert plugins.load_errors == []


def test_cli_lists_plugins_and_load_failures(plugin_dir: Path) -> None:
    runwire_cli = Path(sys.executable).parent / "runwire"
    env = {"PYTHONPATH": str(plugin_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(runwire_cli), "plugins"], capture_output=True, text=True, env=env, check=True)
    assert "shout  (shout-dist)" in out.stdout
    assert "node types: shout-node" in out.stdout
    assert "node types: trigger-node, if-else-node, output-node" in out.stdout
    assert "FAILED  plugin 'broken' from distribution 'broken-dist' failed to load" in out.stdout


def _module(name: str, **attributes: object) -> ModuleType:
    module = ModuleType(name)
    module.__dict__.update(attributes)
    return module


def test_a_plugin_declaring_this_plugin_api_registers() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    for declared in (
        (runwire.PLUGIN_API_VERSION,),
        runwire.PLUGIN_API_VERSION,
        [0, runwire.PLUGIN_API_VERSION],
    ):
        plugin = _module(
            "rw_declares_api",
            RUNWIRE_PLUGIN_API=declared,
            register_node_types=HelloPlugin().register_node_types,
        )
        pm.register(plugin, name="declares-api")
        try:
            assert Plugins(pm).node_type("basic-node", "Hello") is not None
        finally:
            pm.unregister(name="declares-api")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ((2, 3), "plugin 'future' supports runwire plugin API 2, 3; this runwire provides plugin API 1"),
        ((), "plugin 'future' supports runwire plugin API none; this runwire provides plugin API 1"),
        ("1", "plugin 'future': RUNWIRE_PLUGIN_API must be an int or a tuple of ints, not '1'"),
        ((True,), "RUNWIRE_PLUGIN_API must be an int or a tuple of ints, not (True,)"),
    ],
)
def test_a_plugin_declaring_another_plugin_api_is_refused(declared: object, message: str) -> None:
    pm = get_plugin_manager(load_entry_points=False)
    plugin = _module(
        "rw_future", RUNWIRE_PLUGIN_API=declared, register_node_types=HelloPlugin().register_node_types
    )
    with pytest.raises(PluginApiMismatch) as info:
        pm.register(plugin, name="future")
    assert message in str(info.value)
    assert not pm.has_plugin("future")
    assert Plugins(pm).node_type("basic-node", "Hello") is None


FUTURE_PLUGIN = """
    import runwire

    RUNWIRE_PLUGIN_API = (2,)

    @runwire.hookimpl
    def register_node_types():
        raise AssertionError("a plugin for another API version is never called")
"""


def test_an_entry_point_for_another_plugin_api_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "future-dist", "future", "rw_future_plugin", FUTURE_PLUGIN)
    _fake_distribution(tmp_path, "shout-dist", "shout", "rw_shout_plugin", GOOD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = Plugins.load(blocked=[])
    [error] = [e for e in plugins.load_errors if e.name == "future"]
    assert error.distribution == "future-dist"
    assert str(error) == (
        "plugin 'future' from distribution 'future-dist' failed to load: PluginApiMismatch: "
        "plugin 'future' supports runwire plugin API 2; this runwire provides plugin API 1 "
        "(it is left out; fix or upgrade it, or block it: RUNWIRE_BLOCKED_PLUGINS=future)"
    )
    [info] = [i for i in plugins.describe() if i.name == "future"]
    assert info.node_types == [] and info.problems == [str(error)]
    assert plugins.node_type("shout-node", None) is not None


class ReversedText(OutputFormatter):
    format = "reversed-text"

    def format_bytes(self, data: bytes) -> str:
        return data.decode()[::-1]


class HeaderBinder(InputBinder):
    kind = "header-test"

    def bind(self, request: RequestParts) -> str:
        return request.headers.get("x-test", "")


class TokenAuth(AuthProvider):
    name = "token-test"

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        if "x-token" not in headers:
            return None
        if headers["x-token"] != "good":
            raise AuthRefused("bad token")
        return Principal(subject="t", provider=self.name, projects=frozenset({7}))


class EverythingPlugin:
    @runwire.hookimpl
    def register_output_formatters(self) -> list[type[OutputFormatter]]:
        return [ReversedText]

    @runwire.hookimpl
    def register_input_binders(self) -> list[type[InputBinder]]:
        return [HeaderBinder]

    @runwire.hookimpl
    def register_auth_providers(self) -> list[type[AuthProvider]]:
        return [TokenAuth]


async def test_every_family_registers_through_the_manager_and_works() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(EverythingPlugin(), name="everything")
    try:
        plugins = Plugins(pm)
        formatter = plugins.formatters.get("reversed-text")
        binder = plugins.binders.get("header-test")
        auth = plugins.auth_providers.get("token-test")
        assert formatter is not None and binder is not None and auth is not None
        assert formatter().format_bytes(b"abc") == "cba"
        bound = binder(BinderConfig(env_var_name="X")).bind(RequestParts(headers={"x-test": "v"}))
        assert bound == "v"
        provider = auth(AuthServices())
        assert await provider.authenticate({}) is None
        principal = await provider.authenticate({"x-token": "good"})
        assert principal is not None and principal.may_access(7) and not principal.may_access(8)
        with pytest.raises(AuthRefused):
            await provider.authenticate({"x-token": "forged"})
        info = next(i for i in plugins.describe() if i.name == "everything")
        assert (info.formatters, info.binders, info.auth_providers) == (
            ["reversed-text"],
            ["header-test"],
            ["token-test"],
        )
    finally:
        pm.unregister(name="everything")


def test_duplicates_are_refused_in_every_family() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(EverythingPlugin(), name="everything-1")
    pm.register(EverythingPlugin(), name="everything-2")
    with pytest.raises(PluginConflict, match="everything-1"):
        Plugins(pm)


async def test_builtin_api_key_provider() -> None:
    plugins = Plugins(get_plugin_manager(load_entry_points=False))
    provider_cls = plugins.auth_providers.get("api-key")
    assert provider_cls is not None
    provider = provider_cls(AuthServices(settings={"RUNWIRE_API_KEYS": "k1, k2"}))
    assert await provider.authenticate({}) is None
    principal = await provider.authenticate({"x-api-key": "k2"})
    assert principal is not None and principal.projects is None and principal.input_mode == "flat"
    for bad in ("k3", "", "k1 ", "\udcff"):
        with pytest.raises(AuthRefused):
            await provider.authenticate({"x-api-key": bad})


class Nameless(NodeType):
    async def run(self, data: object, ctx: NodeContext) -> NodeOutput:
        return NodeOutput({})


class KindlessBinder(InputBinder):
    def bind(self, request: RequestParts) -> str:
        return ""


@pytest.mark.parametrize(
    ("hook", "returned", "message"),
    [
        (
            "register_node_types",
            lambda: [Nameless],
            "NodeType subclass Nameless does not set 'type' to a name",
        ),
        ("register_input_binders", lambda: [KindlessBinder], "KindlessBinder does not set 'kind' to a name"),
        ("register_input_binders", lambda: [Hello], "Hello'>, which is not a subclass of InputBinder"),
        ("register_output_formatters", lambda: ReversedText, "must return a list of classes, not ABCMeta"),
        ("register_auth_providers", lambda: 1 / 0, "register_auth_providers failed: ZeroDivisionError"),
    ],
)
def test_a_plugin_whose_hook_fails_is_left_out_whole(hook: str, returned: object, message: str) -> None:
    pm = get_plugin_manager(load_entry_points=False)
    hooks = {"register_node_types": HelloPlugin().register_node_types, hook: runwire.hookimpl(returned)}
    pm.register(_module("rw_faulty", **hooks), name="faulty")
    pm.register(EverythingPlugin(), name="everything")
    plugins = Plugins(pm)
    [error] = plugins.load_errors
    assert error.name == "faulty" and message in error.error
    assert "(it is left out; fix or upgrade it, or block it: RUNWIRE_BLOCKED_PLUGINS=faulty)" in str(error)
    assert error.traceback.startswith("Traceback")
    assert not pm.has_plugin("faulty")
    assert plugins.node_type("basic-node", "Hello") is None  # its other classes are left out too
    assert plugins.binders.get("header-test") is HeaderBinder  # the others load
    assert plugins.formatters.get("reversed-text") is ReversedText


def test_a_conflict_names_both_plugins_their_distributions_and_the_fix() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(EverythingPlugin(), name="everything-1")
    pm.register(EverythingPlugin(), name="everything-2")
    with pytest.raises(PluginConflict) as info:
        Plugins(pm)
    assert (
        "output formatter 'reversed-text' is registered by both plugin 'everything-1' (distribution "
        "'runwire (built-in)') and plugin 'everything-2' (distribution 'runwire (built-in)'); "
        "uninstall one, or block one: RUNWIRE_BLOCKED_PLUGINS=everything-2"
    ) in str(info.value)
    kept = Plugins(pm, keep_conflicts=True)
    assert len(kept.conflicts) == 3 and kept.problems == kept.conflicts
    assert kept.auth_providers.owners["token-test"] == "everything-1"
    second = next(i for i in kept.describe() if i.name == "everything-2")
    assert len(second.problems) == 3 and second.auth_providers == []


CLASH_PLUGIN = GOOD_PLUGIN.replace('"HEY"', '"HO"')
BROKEN_HOOK_PLUGIN = """
    import runwire

    @runwire.hookimpl
    def register_input_binders():
        raise RuntimeError("binders are broken")
"""
MISSPELT_PLUGIN = """
    import runwire

    @runwire.hookimpl
    def register_node_typs():
        return []
"""


@pytest.fixture
def troubled_dir(tmp_path: Path) -> Path:
    """Distributions with every kind of problem: two claiming ``shout-node``, a raising hook, a
    misspelt hook."""
    _fake_distribution(tmp_path, "shout-dist", "shout", "rw_shout_plugin", GOOD_PLUGIN)
    _fake_distribution(tmp_path, "clash-dist", "clash", "rw_clash_plugin", CLASH_PLUGIN)
    _fake_distribution(tmp_path, "hooky-dist", "hooky", "rw_hooky_plugin", BROKEN_HOOK_PLUGIN)
    _fake_distribution(tmp_path, "typo-dist", "typo", "rw_typo_plugin", MISSPELT_PLUGIN)
    return tmp_path


def _runwire(args: list[str], plugin_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runwire_cli = Path(sys.executable).parent / "runwire"
    env = {"PYTHONPATH": str(plugin_dir), "PATH": "/usr/bin:/bin", "RUNWIRE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([str(runwire_cli), *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_plugins_shows_every_problem_and_strict_fails(troubled_dir: Path, tmp_path: Path) -> None:
    out = _runwire(["plugins"], troubled_dir, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "shout  (shout-dist)" in out.stdout and "node types: shout-node" in out.stdout
    [conflict] = [line for line in out.stdout.splitlines() if line.startswith("CONFLICT  ")]
    assert "node type 'shout-node' is registered by both plugin " in conflict
    assert "(distribution 'shout-dist')" in conflict and "(distribution 'clash-dist')" in conflict
    assert conflict.endswith(("RUNWIRE_BLOCKED_PLUGINS=clash", "RUNWIRE_BLOCKED_PLUGINS=shout"))
    assert (
        "FAILED  plugin 'hooky' from distribution 'hooky-dist' failed to load: register_input_binders "
        "failed: RuntimeError: binders are broken (it is left out; fix or upgrade it, or block it: "
        "RUNWIRE_BLOCKED_PLUGINS=hooky)"
    ) in out.stdout
    assert (
        "FAILED  plugin 'typo' from distribution 'typo-dist' failed to load: it implements hook "
        "'register_node_typs', which no runwire hook spec declares (did you mean 'register_node_types'?)"
    ) in out.stdout
    assert "3 plugin problem(s)" in out.stderr
    assert "Traceback" not in out.stdout

    strict = _runwire(["plugins", "--strict", "-v"], troubled_dir, tmp_path)
    assert strict.returncode == 1
    assert "    Traceback (most recent call last):" in strict.stdout
    assert 'RuntimeError("binders are broken")' in strict.stdout

    as_json = json.loads(_runwire(["plugins", "--json"], troubled_dir, tmp_path).stdout)
    hooky = next(i for i in as_json if i["name"] == "hooky")
    assert hooky["distribution"] == "hooky-dist" and "binders are broken" in hooky["problems"][0]

    (troubled_dir / "rw_clash_plugin.py").unlink()
    (troubled_dir / "clash-dist-0.1.dist-info" / "entry_points.txt").write_text("")
    blocked = _runwire(["plugins", "--strict"], troubled_dir, tmp_path)
    assert blocked.returncode == 1  # hooky and typo are still there
    env_ok = subprocess.run(
        [str(Path(sys.executable).parent / "runwire"), "plugins", "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PYTHONPATH": str(troubled_dir),
            "PATH": "/usr/bin:/bin",
            "RUNWIRE_BLOCKED_PLUGINS": "hooky,typo",
        },
    )
    assert env_ok.returncode == 0, env_ok.stdout + env_ok.stderr
    assert "problem" not in env_ok.stdout + env_ok.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["worker", "--broker-url", "redis://127.0.0.1:1/0"],
        ["check", "WORKFLOW"],
        ["run", "WORKFLOW"],
    ],
)
def test_commands_refuse_a_conflict_with_the_fix(
    troubled_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    workflow = Path(__file__).parents[1] / "data" / "reference_example.json"
    args = [str(workflow) if a == "WORKFLOW" else a for a in command]
    out = _runwire(args, troubled_dir, tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "Error: node type 'shout-node' is registered by both plugin" in out.stderr
    assert "RUNWIRE_BLOCKED_PLUGINS=" in out.stderr
