"""The "LLM OpenAI" node against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from pathlib import Path

import pytest
from werkzeug import Request, Response

from runwire.errors import WorkflowInvalid
from runwire.plugins import Plugins

from .conftest import API_KEY, LLM_NODE, RunLlm, llm_node
from .fake_openai import MODEL_SNAPSHOT, FakeOpenAI, completion

SYSTEM = {"role": "system", "message": "You are a helpful assistant. Reply briefly."}
FAST_RETRY = {"retry-after-ms": "5"}


def test_a_fresh_plugin_manager_finds_the_node_through_the_entry_point() -> None:
    plugins = Plugins.load()
    impl = plugins.node_type("basic-node", "LLM OpenAI")
    assert impl is not None and type(impl).__module__ == "runwire_llm_openai.node"
    assert plugins.node_types.owners[("basic-node", "LLM OpenAI")] == "llm_openai"
    info = next(i for i in plugins.describe() if i.name == "llm_openai")
    assert info.distribution == "runwire-llm-openai"


async def test_a_chat_completion_returns_content_usage_and_its_cost(
    openai_server: FakeOpenAI, run_llm: RunLlm
) -> None:
    openai_server.reply("Welcome aboard, Ann!", prompt_tokens=1000, completion_tokens=500)
    node = llm_node(
        [SYSTEM, {"role": "user", "message": "Create a welcome message for {{ input.user_name }}"}],
        temperature=0.7,
        max_tokens=64,
    )
    record = await run_llm(node, {"user_name": "Ann"})
    assert record.status == "succeed", record.error
    result = record.nodes[LLM_NODE].result
    assert result == {
        "content": "Welcome aboard, Ann!",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        "model": MODEL_SNAPSHOT,
        "finish_reason": "stop",
    }
    # gpt-4o list price: $2.50 per 1M input tokens, $10 per 1M output tokens
    assert record.total_cost == pytest.approx(1000 * 2.5e-6 + 500 * 10e-6)
    assert record.to_json()["metrics"]["total_cost"] == pytest.approx(0.0075)
    sent = openai_server.requests[0]
    assert sent["model"] == "gpt-4o"
    assert sent["messages"] == [
        {"role": "system", "content": "You are a helpful assistant. Reply briefly."},
        {"role": "user", "content": "Create a welcome message for Ann"},
    ]
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 64
    assert "response_format" not in sent
    assert openai_server.headers[0]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('```json\n{"key": "value"}\n```', {"key": "value"}),
        ('```\n[1, 2, {"a": null}]\n```', [1, 2, {"a": None}]),
        ('  {"sentiment": "positive", "score": 0.9}  ', {"sentiment": "positive", "score": 0.9}),
    ],
)
async def test_json_replies_are_parsed_server_side_and_content_stays_a_string(
    openai_server: FakeOpenAI, run_llm: RunLlm, reply: str, expected: object
) -> None:
    openai_server.reply(reply)
    record = await run_llm(llm_node([{"role": "user", "message": "classify"}]))
    result = record.nodes[LLM_NODE].result
    assert result["content"] == reply
    assert result["json"] == expected


@pytest.mark.parametrize("reply", ["Hello, world!", "Here you go: ```json\n{}\n```", "[" * 10_000, ""])
async def test_plain_text_replies_have_no_json(
    openai_server: FakeOpenAI, run_llm: RunLlm, reply: str
) -> None:
    openai_server.reply(reply)
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.status == "succeed", record.error
    result = record.nodes[LLM_NODE].result
    assert result["content"] == reply and "json" not in result


async def test_json_mode_is_requested_from_the_api(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    openai_server.reply('{"ok": true}')
    record = await run_llm(
        llm_node([{"role": "user", "message": "json please"}], response_format="json_object")
    )
    assert record.nodes[LLM_NODE].result["json"] == {"ok": True}
    assert openai_server.requests[0]["response_format"] == {"type": "json_object"}


async def test_a_429_is_retried_after_the_servers_retry_after(
    openai_server: FakeOpenAI, run_llm: RunLlm
) -> None:
    openai_server.fail(429, "Rate limit reached", headers={"Retry-After": "0.01"})
    openai_server.reply("after the wait")
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.status == "succeed", record.error
    assert record.nodes[LLM_NODE].result["content"] == "after the wait"
    assert len(openai_server.requests) == 2


async def test_a_500_is_retried_and_then_succeeds(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    openai_server.fail(500, "The server had an error", headers=FAST_RETRY)
    openai_server.reply("recovered")
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.status == "succeed", record.error
    assert record.nodes[LLM_NODE].result["content"] == "recovered"


async def test_a_persistent_500_fails_the_node_after_max_retries(
    openai_server: FakeOpenAI, run_llm: RunLlm
) -> None:
    for _ in range(3):
        openai_server.fail(500, "The server had an error", headers=FAST_RETRY)
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}], max_retries=1))
    assert record.status == "failed"
    assert record.nodes[LLM_NODE].error == "LLM API answered HTTP 500: The server had an error"
    assert len(openai_server.requests) == 2
    assert record.total_cost == 0


async def test_a_401_is_not_retried(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    openai_server.fail(401, "Incorrect API key provided")
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.status == "failed"
    assert "HTTP 401: Incorrect API key provided" in (record.nodes[LLM_NODE].error or "")
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (Response("<html>oops</html>", status=200, content_type="text/html"), "not a chat completion"),
        (Response(json.dumps({"choices": []}), status=200, content_type="application/json"), "no choices"),
        (Response("{not json", status=200, content_type="application/json"), "not valid JSON"),
    ],
)
async def test_a_malformed_reply_fails_the_node_cleanly(
    openai_server: FakeOpenAI, run_llm: RunLlm, response: Response, message: str
) -> None:
    openai_server.raw(response)
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}], max_retries=0))
    assert record.status == "failed"
    error = record.nodes[LLM_NODE].error or ""
    assert error.startswith("LLM API returned ") and message in error


async def test_a_node_base_url_must_be_allowed_by_the_operator(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    alternative = FakeOpenAI(openai_server.server, prefix="/alt/v1")
    node = llm_node([{"role": "user", "message": "hi"}], base_url=alternative.base_url)
    refused = await run_llm(node)
    assert refused.status == "failed"
    assert "is not allowed: list it in RUNWIRE_LLM_BASE_URLS" in (refused.nodes[LLM_NODE].error or "")
    assert alternative.requests == [] and openai_server.requests == []

    monkeypatch.setenv("RUNWIRE_LLM_BASE_URLS", f"http://unused.example/v1, {alternative.base_url}/")
    allowed = await run_llm(node)
    assert allowed.status == "succeed", allowed.error
    assert allowed.nodes[LLM_NODE].result["content"] == "echo: hi"
    assert len(alternative.requests) == 1 and openai_server.requests == []


async def test_a_missing_api_key_fails_the_node(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.nodes[LLM_NODE].error == "OPENAI_API_KEY is not set (nor OPENAI_API_KEY_FILE)"
    assert openai_server.requests == []


async def test_a_key_given_only_as_a_file_is_sent_as_the_bearer_token(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "openai_api_key"
    key_file.write_text("sk-from-a-file\n", encoding="utf-8")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.status == "succeed", record.error
    assert openai_server.headers[0]["Authorization"] == "Bearer sk-from-a-file"


async def test_a_key_and_a_key_file_together_fail_the_node_without_a_request(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "openai_api_key"
    key_file.write_text("sk-from-a-file", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    error = record.nodes[LLM_NODE].error or ""
    assert record.status == "failed"
    assert "both OPENAI_API_KEY and OPENAI_API_KEY_FILE are set" in error
    assert "sk-" not in error
    assert openai_server.requests == []


async def test_the_price_table_can_be_overridden_and_unknown_models_cost_nothing(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWIRE_LLM_PRICES", json.dumps({"gpt-4o": {"input": 1, "output": 2}}))
    openai_server.reply("a", prompt_tokens=1_000_000, completion_tokens=1_000_000)
    priced = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert priced.total_cost == pytest.approx(3.0)

    monkeypatch.setenv("RUNWIRE_LLM_PRICES", "{}")
    unknown = await run_llm(llm_node([{"role": "user", "message": "hi"}], model_name="llama3:8b"))
    assert unknown.status == "succeed" and unknown.total_cost == 0

    monkeypatch.setenv("RUNWIRE_LLM_PRICES", '{"gpt-4o": {"input": -1, "output": 2}}')
    broken = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert broken.status == "failed"
    assert "RUNWIRE_LLM_PRICES must be JSON" in (broken.nodes[LLM_NODE].error or "")


async def test_template_injection_in_a_message_is_refused(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    record = await run_llm(llm_node([{"role": "user", "message": "{{ ''.__class__.__mro__ }}"}]))
    assert record.status == "failed"
    assert "not allowed" in (record.nodes[LLM_NODE].error or "")
    assert openai_server.requests == []


async def test_input_is_rendered_as_text_not_evaluated(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    hostile = "{{ 7 * 7 }} $(rm -rf /) `id`; ../../etc/passwd \u0000"
    record = await run_llm(llm_node([{"role": "user", "message": "say {{ input.text }}"}]), {"text": hostile})
    assert record.status == "succeed", record.error
    assert openai_server.requests[0]["messages"][0]["content"] == f"say {hostile}"


async def test_request_timeout_bounds_an_answer_sent_a_byte_at_a_time(
    run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``request_timeout`` bounds the whole attempt: an API trickling its answer (each byte well
    within the timeout, the whole answer over ten seconds) times the node out, not only one
    that goes silent."""
    body = json.dumps(completion("hi", 1, 1)).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(head % len(body))
                for byte in body:
                    if stop.wait(10 / len(body)):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:  # the node gave up and closed the connection
                return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    try:
        record = await run_llm(
            llm_node([{"role": "user", "message": "hi"}], max_retries=0, request_timeout=0.5)
        )
    finally:
        stop.set()
        server.join(5)
        listener.close()
    assert record.nodes[LLM_NODE].error == "LLM API timed out after 0.5 s"


@pytest.mark.parametrize(
    "node",
    [
        llm_node([]),
        llm_node([{"role": "wizard", "message": "hi"}]),
        llm_node([{"role": "user", "message": "hi"}], temperature=3),
        llm_node([{"role": "user", "message": "hi"}], response_format="yaml"),
        llm_node([{"role": "user", "message": "hi"}], model_name=""),
        {"name": "LLM OpenAI", "messages": [{"role": "user", "message": "hi"}]},
    ],
)
async def test_invalid_node_data_is_reported_when_the_workflow_is_checked(
    run_llm: RunLlm, node: dict[str, object]
) -> None:
    with pytest.raises(WorkflowInvalid, match=f"node {LLM_NODE}: data"):
        await run_llm(node)


async def test_a_retry_after_beyond_two_minutes_is_not_waited_for(
    openai_server: FakeOpenAI, run_llm: RunLlm
) -> None:
    openai_server.fail(429, "Rate limit reached", headers={"Retry-After": "3600"})
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}]))
    assert record.nodes[LLM_NODE].error == "LLM API answered HTTP 429: Rate limit reached"
    assert len(openai_server.requests) == 1


async def test_an_unreachable_api_fails_the_node(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}], max_retries=0))
    assert record.nodes[LLM_NODE].error == "cannot reach the LLM API: Connection error."


async def test_an_empty_base_url_means_the_default_one(
    openai_server: FakeOpenAI, run_llm: RunLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OPENAI_BASE_URL=`` (as a compose file's ``${OPENAI_BASE_URL:-}`` gives) is unset, for
    runwire and the SDK alike: the SDK took the empty string as its URL and sent nothing. A
    proxy on 127.0.0.1 (``HTTPS_PROXY``) shows where the request went, without the internet."""
    asked: list[bytes] = []
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(4)
        proxy.settimeout(10)

        def serve() -> None:
            with contextlib.suppress(OSError), proxy.accept()[0] as conn:
                asked.append(conn.recv(4096).split(b"\r\n", 1)[0])  # then closed: no tunnel

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        monkeypatch.setenv("OPENAI_BASE_URL", "")
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        record = await run_llm(llm_node([{"role": "user", "message": "hi"}], max_retries=0))
        thread.join(10)
    assert asked == [b"CONNECT api.openai.com:443 HTTP/1.1"]
    assert record.nodes[LLM_NODE].error.startswith("cannot reach the LLM API")
    assert openai_server.requests == []


async def test_a_slow_api_times_out(openai_server: FakeOpenAI, run_llm: RunLlm) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(10)
        return Response("{}", content_type="application/json")

    openai_server.server.clear()
    openai_server.server.expect_request("/v1/chat/completions").respond_with_handler(slow)
    record = await run_llm(llm_node([{"role": "user", "message": "hi"}], max_retries=0, request_timeout=0.2))
    release.set()
    assert record.nodes[LLM_NODE].error == "LLM API timed out after 0.2 s"
    for _ in range(200):  # let the late answer finish so it cannot land in another test's log
        if openai_server.server.log:
            break
        await asyncio.sleep(0.01)
