"""What each fake provider says when it works: listings, streamed completions, auth checks
and the protocol's own error shapes. One class per wire protocol; OpenAI's (and Azure
OpenAI's) live in openai_compat.py, Google's in google.py and AWS's in aws.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.adapters.base import Target
from tests.fakes.server import Reply, json_reply, ndjson_reply, sse_reply

if TYPE_CHECKING:
    from tests.fakes.server import FakeProvider, Request


class Protocol:
    """The shared behaviour: auth check, then route; errors as ``{"error": {...}}``."""

    name = ""
    provider_type = ""
    base_path = ""
    default_models: tuple[str, ...] = ("model-a", "model-b")

    def __init__(self, fake: FakeProvider, **options: Any) -> None:
        self.fake = fake
        self.options = options

    def applies(self, request: Request) -> bool:
        """Whether the failure mode applies to this request (all, unless a protocol says)."""
        return True

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "fake_error", "code": status}}

    def error(self, status: int, message: str, headers: dict[str, str]) -> Reply:
        """An error answer in the protocol's shape."""
        return json_reply(self.error_payload(status, message), status, headers)

    def authorized(self, request: Request) -> bool:
        key = self.fake.key
        return key is None or request.headers.get("authorization") == f"Bearer {key}"

    def handle(self, request: Request, *, stream_error: bool) -> Reply:
        """A working provider's answer (or its auth / not-found errors)."""
        if not self.authorized(request):
            return self.error(401, "invalid api key", {})
        return self.route(request, stream_error)

    def route(self, request: Request, stream_error: bool) -> Reply:
        raise NotImplementedError

    def not_found(self, request: Request) -> Reply:
        return self.error(404, f"no route {request.method} {request.route}", {})

    def target(self, **overrides: Any) -> Target:
        """A Target for this fake."""
        fields: dict[str, Any] = {
            "provider_type": self.provider_type,
            "base_url": self.fake.base_url,
            "api_key": self.fake.key,
            "config": {"base_url": self.fake.base_url},
        }
        fields.update(overrides)
        return Target(**fields)

    def page(self, items: list[Any], token: str | None) -> tuple[list[Any], str | None]:
        """One page of ``items`` from a numeric token, and the next token."""
        size = self.fake.page_size or len(items) or 1
        start = int(token or 0)
        rest = start + size
        return items[start:rest], (str(rest) if rest < len(items) else None)

    def pieces(self) -> list[str]:
        """The reply text cut into stream deltas."""
        words = self.fake.reply.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


class Anthropic(Protocol):
    name, provider_type = "anthropic", "anthropic"
    default_models = ("claude-sonnet-4-5", "claude-3-7-sonnet-20250219", "claude-haiku-4-5")

    def error_payload(self, status: int, message: str) -> Any:
        kinds = {
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            500: "api_error",
        }
        return {
            "type": "error",
            "error": {"type": kinds.get(status, "invalid_request_error"), "message": message},
        }

    def authorized(self, request: Request) -> bool:
        key = self.fake.key
        return request.headers.get("anthropic-version") == "2023-06-01" and (
            key is None or request.headers.get("x-api-key") == key
        )

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/v1/models":
            rows = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m.replace("-", " ").title(),
                    "created_at": "2025-02-19T00:00:00Z",
                }
                for m in self.fake.models
            ]
            start = next(
                (i + 1 for i, r in enumerate(rows) if r["id"] == request.query.get("after_id")), 0
            )
            page, more = self.page(rows, str(start))
            return json_reply(
                {
                    "data": page,
                    "has_more": more is not None,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                }
            )
        if request.method == "POST" and request.route == "/v1/messages":
            body = request.json() or {}
            if body.get("model") not in self.fake.models:
                return self.error(404, f"model: {body.get('model')}", {})
            model = body["model"]
            events: list[tuple[str | None, Any]] = [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            # usage=... (FakeProvider option): that usage, ids msg_1, msg_2, ...
                            "id": f"msg_{len(self.fake.requests)}"
                            if self.options.get("usage")
                            else "msg_1",
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [],
                            "usage": self.options.get("usage")
                            or {"input_tokens": 12, "output_tokens": 1},
                        },
                    },
                ),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                ("ping", {"type": "ping"}),
            ]
            if body.get("thinking"):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "thinking_delta", "thinking": "Hmm."},
                        },
                    )
                )
            if stream_error:
                events.append(
                    (
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    )
                )
                return sse_reply(events)
            events += [
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": p},
                    },
                )
                for p in self.pieces()
            ]
            events += [
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 4},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
            return sse_reply(events)
        return self.not_found(request)


class Cohere(Protocol):
    name, provider_type = "cohere", "cohere"
    default_models = ("command-r-plus", "embed-english-v3.0")

    def error_payload(self, status: int, message: str) -> Any:
        return {"message": message}

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/v1/models":
            rows = [
                {
                    "name": m,
                    "endpoints": ["embed"] if "embed" in m else ["generate", "chat"],
                    "finetuned": False,
                    "context_length": 128000,
                }
                for m in self.fake.models
            ]
            page, token = self.page(rows, request.query.get("page_token"))
            return json_reply({"models": page, **({"next_page_token": token} if token else {})})
        if request.method == "POST" and request.route == "/v2/chat":
            body = request.json() or {}
            if body.get("model") not in self.fake.models:
                return self.error(
                    404,
                    f"model '{body.get('model')}' not found, make sure the "
                    "correct model ID was used",
                    {},
                )
            events: list[tuple[str | None, Any]] = [
                (
                    "message-start",
                    {
                        "id": "m1",
                        "type": "message-start",
                        "delta": {"message": {"role": "assistant", "content": []}},
                    },
                ),
                (
                    "content-start",
                    {
                        "type": "content-start",
                        "index": 0,
                        "delta": {"message": {"content": {"type": "text", "text": ""}}},
                    },
                ),
            ]
            if stream_error:
                return sse_reply([*events, (None, {"message": "internal server error"})])
            events += [
                (
                    "content-delta",
                    {
                        "type": "content-delta",
                        "index": 0,
                        "delta": {"message": {"content": {"text": p}}},
                    },
                )
                for p in self.pieces()
            ]
            events += [
                ("content-end", {"type": "content-end", "index": 0}),
                (
                    "message-end",
                    {
                        "type": "message-end",
                        "delta": {
                            "finish_reason": "COMPLETE",
                            "usage": {
                                "billed_units": {"input_tokens": 5, "output_tokens": 3},
                                "tokens": {"input_tokens": 71, "output_tokens": 3},
                            },
                        },
                    },
                ),
            ]
            return sse_reply(events)
        return self.not_found(request)


class Ollama(Protocol):
    name, provider_type = "ollama", "ollama"
    default_models = ("llama3.2:latest", "nomic-embed-text:latest")

    def error_payload(self, status: int, message: str) -> Any:
        return {"error": message}

    def authorized(self, request: Request) -> bool:
        return True  # Ollama has no authentication

    def target(self, **overrides: Any) -> Target:
        return super().target(**{"api_key": None, **overrides})

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/api/tags":
            return json_reply(
                {
                    "models": [
                        {
                            "name": m,
                            "model": m,
                            "modified_at": "2025-05-01T10:00:00.123456789+02:00",
                            "size": 2019393189,
                            "digest": "a80c4f17acd5",
                            "details": {
                                "family": "nomic-bert" if "embed" in m else "llama",
                                "parameter_size": "3.2B",
                                "quantization_level": "Q4_K_M",
                            },
                        }
                        for m in self.fake.models
                    ]
                }
            )
        if request.method == "POST" and request.route == "/api/chat":
            body = request.json() or {}
            model = body.get("model")
            if model not in self.fake.models:
                return self.error(404, f"model '{model}' not found, try pulling it first", {})
            lines: list[Any] = []
            for piece in self.pieces():
                lines.append(
                    {
                        "model": model,
                        "created_at": "2025-05-01T10:00:00Z",
                        "message": {"role": "assistant", "content": piece},
                        "done": False,
                    }
                )
                if stream_error:
                    return ndjson_reply(
                        [*lines, {"error": "an error was encountered while running the model"}]
                    )
            lines.append(
                {
                    "model": model,
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": 26,
                    "eval_count": 3,
                    "total_duration": 4883583458,
                }
            )
            return ndjson_reply(lines)
        return self.not_found(request)


def protocol_for(name: str, fake: FakeProvider, **options: Any) -> Protocol:
    """The fake behaviour for a catalog protocol name."""
    from tests.fakes.aws import Bedrock
    from tests.fakes.google import Gemini, Vertex
    from tests.fakes.openai_compat import AzureOpenAI, OpenAI

    kinds: dict[str, type[Protocol]] = {
        "openai": OpenAI,
        "azure_openai": AzureOpenAI,
        "anthropic": Anthropic,
        "cohere": Cohere,
        "ollama": Ollama,
        "gemini": Gemini,
        "vertex": Vertex,
        "bedrock": Bedrock,
    }
    if name not in kinds:
        raise ValueError(f"no fake for protocol {name!r}")
    return kinds[name](fake, **options)
