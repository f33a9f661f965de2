"""A scriptable OpenAI-compatible chat-completions server for tests, on a real 127.0.0.1 socket.

Unscripted requests get an echo of the last user message, so a test can tell which prompt
was sent; ``reply``/``fail`` queue specific responses, answered in order.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

MODEL_SNAPSHOT = "gpt-4o-2024-08-06"


def completion(
    content: str, prompt_tokens: int, completion_tokens: int, model: str = MODEL_SNAPSHOT
) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API returns it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass
class FakeOpenAI:
    """Serves ``POST <prefix>/chat/completions`` on ``server``; records every request body."""

    server: HTTPServer
    prefix: str = "/v1"
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _script: list[Response] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(f"{self.prefix}/chat/completions", method="POST").respond_with_handler(
            self._handle
        )

    @property
    def base_url(self) -> str:
        """What to give as ``OPENAI_BASE_URL``."""
        return self.server.url_for(self.prefix)

    def reply(self, content: str, prompt_tokens: int = 20, completion_tokens: int = 10) -> None:
        """Queue a successful completion with ``content`` and that usage."""
        body = completion(content, prompt_tokens, completion_tokens)
        self._script.append(Response(json.dumps(body), status=200, content_type="application/json"))

    def fail(self, status: int, message: str = "error", headers: dict[str, str] | None = None) -> None:
        """Queue an error response in the API's error shape."""
        body = {"error": {"message": message, "type": "server_error", "code": None}}
        self._script.append(
            Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})
        )

    def raw(self, response: Response) -> None:
        """Queue any response (for malformed replies)."""
        self._script.append(response)

    def _handle(self, request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True))
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if self._script:
                return self._script.pop(0)
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        content = f"echo: {users[-1] if users else ''}"
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        reply = completion(content, prompt_tokens, len(content.split()), model=body["model"])
        return Response(json.dumps(reply), status=200, content_type="application/json")
