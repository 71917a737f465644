"""The fake OpenAI-compatible provider and Azure OpenAI's variant of it: model listings,
chat completions (streamed or not) and embeddings, with OpenAI's auth and error shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.adapters.base import Target
from tests.fakes.protocols import Protocol
from tests.fakes.server import Reply, json_reply, sse_reply

if TYPE_CHECKING:
    from tests.fakes.server import Request


class OpenAI(Protocol):
    name, provider_type, base_path = "openai", "openai", "/v1"
    default_models = ("gpt-4o-mini", "o3-mini", "text-embedding-3-small")

    def listing(self) -> Reply:
        return json_reply(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": 1700000000,
                        "owned_by": "fake-org",
                        "context_window": 128000,
                    }
                    for m in self.fake.models
                ],
            }
        )

    def chat(self, body: dict[str, Any], stream_error: bool, model: str) -> Reply:
        if not body.get("stream"):
            # usage=... (FakeProvider option): that usage object, and ids chatcmpl-1, -2, ...
            usage = self.options.get("usage")
            answer_id = f"chatcmpl-{len(self.fake.requests)}" if usage else "c1"
            return json_reply(
                {
                    "id": answer_id,
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": self.fake.reply},
                        }
                    ],
                    "usage": usage or {"prompt_tokens": 9, "completion_tokens": 3},
                }
            )

        # usage=... (FakeProvider option): that usage in the last chunk, ids chatcmpl-1, -2, ...
        usage = self.options.get("usage")
        stream_id = f"chatcmpl-{len(self.fake.requests)}" if usage else "c1"

        def chunk(**fields: Any) -> dict[str, Any]:
            return {"id": stream_id, "object": "chat.completion.chunk", "model": model, **fields}

        events: list[tuple[str | None, Any]] = [
            (None, chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}]))
        ]
        for piece in self.pieces():
            events.append((None, chunk(choices=[{"index": 0, "delta": {"content": piece}}])))
            if stream_error:
                events.append(
                    (
                        None,
                        {"error": {"message": "The server had an error", "type": "server_error"}},
                    )
                )
                return sse_reply(events)
        events.append((None, chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                (
                    None,
                    chunk(choices=[], usage=usage or {"prompt_tokens": 9, "completion_tokens": 3}),
                )
            )
        events.append((None, "[DONE]"))
        return sse_reply(events)

    def route(self, request: Request, stream_error: bool) -> Reply:
        base = self.base_path
        if request.method == "GET" and request.route == f"{base}/models":
            return self.listing()
        if request.method == "POST" and request.route == f"{base}/chat/completions":
            body = request.json() or {}
            if body.get("model") not in self.fake.models:
                return json_reply(
                    {
                        "error": {
                            "message": f"The model `{body.get('model')}` does not exist",
                            "type": "invalid_request_error",
                            "code": "model_not_found",
                        }
                    },
                    404,
                )
            return self.chat(body, stream_error, body["model"])
        return self.not_found(request)


class AzureOpenAI(OpenAI):
    name, provider_type, base_path = "azure_openai", "azure_openai", "/openai"
    default_models = ("gpt-4o", "o3-mini")

    def authorized(self, request: Request) -> bool:
        key = self.fake.key
        return (
            key is None
            or request.headers.get("api-key") == key
            or (key.startswith("Bearer ") and request.headers.get("authorization") == key)
        )

    def target(self, **overrides: Any) -> Target:
        config = {"base_url": self.fake.base_url, "deployment_id": self.fake.models[0]}
        return super().target(**{"config": config, **overrides})

    def route(self, request: Request, stream_error: bool) -> Reply:
        if "api-version" not in request.query:
            return self.error(400, "The api-version query parameter is required", {})
        if request.method == "GET" and request.route == "/openai/models":
            return json_reply(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": m,
                            "object": "model",
                            "created_at": 1715558400,
                            "status": "succeeded",
                            "capabilities": {"chat_completion": True, "embeddings": False},
                        }
                        for m in self.fake.models
                    ],
                }
            )
        parts = request.route.split("/")
        if (
            request.method == "POST"
            and len(parts) == 6
            and parts[1:3] == ["openai", "deployments"]
            and parts[4:] == ["chat", "completions"]
        ):
            if parts[3] not in self.fake.models:
                return json_reply(
                    {
                        "error": {
                            "code": "DeploymentNotFound",
                            "message": "The API deployment for this resource does not exist.",
                        }
                    },
                    404,
                )
            return self.chat(request.json() or {}, stream_error, parts[3])
        return self.not_found(request)
