"""Ollama's native API (no authentication).

    GET  {base}/api/tags     the locally pulled models; listing and probe
    POST {base}/api/chat     stream=true, NDJSON lines {"message": {"content"}, "done"};
                             the last line carries prompt_eval_count / eval_count

A base URL ending in /v1 (Ollama's OpenAI-compatible API) or /api is trimmed to the root.
A key, if a proxy in front of Ollama wants one, is sent as a bearer token.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.adapters import failures, http, payloads, reasoning, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse


def _root(target: Target) -> str:
    base = target.base_url.rstrip("/")
    for suffix in ("/v1", "/api"):
        base = base.removesuffix(suffix)
    return base


def _auth(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}


def _row(row: Any) -> ModelInfo:
    name = payloads.text(row.get("name") or row.get("model"))
    details = row.get("details") if isinstance(row.get("details"), dict) else {}
    families = details.get("families") or [details.get("family")]
    kind = "embedding" if any(f in ("bert", "nomic-bert") for f in families) else None
    return ModelInfo(
        id=name,
        name=name,
        created=payloads.from_iso(row.get("modified_at")),
        owned_by=payloads.optional_text(details.get("family")),
        kind=kind,
    )


class OllamaAdapter(http.ListingProbe):
    """Ollama's native protocol."""

    protocol = "ollama"

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET /api/tags."""
        payload = http.request_json(
            client, target, "GET", f"{_root(target)}/api/tags", auth=_auth(target)
        )
        with payloads.shape("model listing"):
            return [_row(row) for row in payload["models"]]

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A streamed chat (NDJSON)."""
        clock = streams.Stopwatch()
        parts: list[str] = []
        final: dict[str, Any] = {}
        served = model
        budget = reasoning.output_budget(model, max_tokens)
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "options": {"num_predict": budget},
        }
        with http.open_stream(
            client,
            target,
            "POST",
            f"{_root(target)}/api/chat",
            headers={"Accept": "application/x-ndjson"},
            auth=_auth(target),
            json=body,
            model=model,
        ) as response:
            for line in streams.json_lines(response):
                if line.get("error"):
                    raise failures.error_in_stream(target, "", line["error"])
                with payloads.shape("chat stream line"):
                    message = line.get("message") or {}
                    content = message.get("content") or ""
                    if content or message.get("thinking"):
                        clock.mark()
                    parts.append(payloads.string(content))
                    served = payloads.optional_text(line.get("model")) or served
                if line.get("done"):
                    final = line
                    break
        if not final:
            raise ProviderBadResponse("The stream ended before its final line")
        return Completion(
            model=served,
            text="".join(parts),
            input_tokens=payloads.optional_int(final.get("prompt_eval_count")),
            output_tokens=payloads.optional_int(final.get("eval_count")),
            ttft_ms=clock.ttft_ms,
            total_ms=clock.total_ms,
        )
