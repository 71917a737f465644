"""Cohere: v1 listing, v2 chat.

    GET  {base}/v1/models?page_size=1000    listing and probe (free); next_page_token
    POST {base}/v2/chat                     stream=true, SSE: content-delta events with
                                            delta.message.content.text, message-end with usage

Key as ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.adapters import failures, http, payloads, reasoning, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse

MAX_PAGES = 10


def _root(target: Target) -> str:
    base = target.base_url.rstrip("/")
    for suffix in ("/v1", "/v2"):
        base = base.removesuffix(suffix)
    return base


def _auth(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key or ''}"}


def _kind(endpoints: Any) -> str | None:
    endpoints = endpoints if isinstance(endpoints, list) else []
    for endpoint, kind in (
        ("chat", "inference"),
        ("generate", "inference"),
        ("embed", "embedding"),
        ("rerank", "rerank"),
    ):
        if endpoint in endpoints:
            return kind
    return None


def _usage(delta: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = delta.get("usage") or {}
    counts = usage.get("tokens") or usage.get("billed_units") or {}
    return (
        payloads.optional_int(counts.get("input_tokens")),
        payloads.optional_int(counts.get("output_tokens")),
    )


class CohereAdapter(http.ListingProbe):
    """The Cohere protocol."""

    protocol = "cohere"

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET /v1/models, following next_page_token."""
        models: list[ModelInfo] = []
        params = {"page_size": "1000"}
        for _ in range(MAX_PAGES):
            payload = http.request_json(
                client,
                target,
                "GET",
                f"{_root(target)}/v1/models",
                auth=_auth(target),
                params=params,
            )
            with payloads.shape("model listing"):
                for row in payload["models"]:
                    models.append(
                        ModelInfo(
                            id=payloads.text(row["name"]),
                            owned_by="cohere",
                            context_window=payloads.optional_int(row.get("context_length")),
                            kind=_kind(row.get("endpoints")),
                        )
                    )
                token = payloads.optional_text(payload.get("next_page_token"))
            if not token:
                break
            params = {"page_size": "1000", "page_token": token}
        return models

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A streamed v2 chat."""
        clock = streams.Stopwatch()
        parts: list[str] = []
        tokens_in = tokens_out = None
        seen = False
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "max_tokens": reasoning.output_budget(model, max_tokens),
        }
        headers = {"Accept": "text/event-stream"}
        with http.open_stream(
            client,
            target,
            "POST",
            f"{_root(target)}/v2/chat",
            headers=headers,
            auth=_auth(target),
            json=body,
            model=model,
        ) as response:
            for event, data in streams.sse_json(response):
                kind = data.get("type") or event
                with payloads.shape("chat stream event"):
                    if kind == "content-delta":
                        content = data["delta"]["message"]["content"]
                        clock.mark()  # a thinking delta is a first token too
                        if "text" in content:
                            parts.append(payloads.string(content["text"]))
                    elif kind == "message-end":
                        tokens_in, tokens_out = _usage(data.get("delta") or {})
                    elif kind == "message-start":
                        seen = True
                    elif kind == "error" or data.get("message") and not data.get("delta"):
                        raise failures.error_in_stream(target, "", data.get("message"))
        if not seen:
            raise ProviderBadResponse("The stream carried no chat events")
        return Completion(
            model=model,
            text="".join(parts),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            ttft_ms=clock.ttft_ms,
            total_ms=clock.total_ms,
        )
