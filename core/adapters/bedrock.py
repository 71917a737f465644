"""Amazon Bedrock: the control plane lists, the runtime converses.

    GET  https://bedrock.{region}.amazonaws.com/foundation-models          listing and probe
    POST https://bedrock-runtime.{region}.amazonaws.com/model/{id}/converse-stream
         answered as an AWS event stream (see eventstream.py): contentBlockDelta text,
         a metadata event with usage, or an exception message

The control-plane host is derived from the runtime base URL; a base URL that is not a
``bedrock-runtime.`` host (an override, e.g. a test server or a proxy) serves both.
Credentials: a Bedrock API key goes as ``Authorization: Bearer``; otherwise the config's
access_key_id / secret_access_key (/ session_token) sign each request with SigV4
(service "bedrock", region from the config or the host).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx

from core.adapters import eventstream, failures, http, payloads, reasoning, sigv4, streams
from core.adapters.base import Completion, ModelInfo, Target
from core.errors import ProviderBadResponse, ProviderUnauthorized

SERVICE = "bedrock"
_RUNTIME_HOST = re.compile(r"^(https?://)bedrock-runtime(-fips)?\.", re.IGNORECASE)
_REGION_IN_HOST = re.compile(r"bedrock(?:-runtime)?(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


def control_base(target: Target) -> str:
    """The control-plane base for the runtime base (the same base when it is an override)."""
    return _RUNTIME_HOST.sub(r"\1bedrock\2.", target.base_url.rstrip("/"))


def region(target: Target) -> str:
    """The config's region, else the one in the host name, else us-east-1."""
    configured = payloads.optional_text(target.config.get("region"))
    found = _REGION_IN_HOST.search(target.base_url)
    return (configured or (found.group(1) if found else "us-east-1")).strip()


def _auth(target: Target, method: str, url: str, body: bytes) -> dict[str, str]:
    key = (target.api_key or "").strip()
    if key:
        return {"Authorization": key if key[:7].lower() == "bearer " else f"Bearer {key}"}
    access = payloads.optional_text(target.config.get("access_key_id"))
    secret = payloads.optional_text(target.config.get("secret_access_key"))
    if not (access and secret):
        raise ProviderUnauthorized("No Bedrock API key or access key pair is configured")
    credentials = sigv4.AwsCredentials(
        access.strip(), secret.strip(), payloads.optional_text(target.config.get("session_token"))
    )
    return sigv4.sign(
        method, url, body=body, credentials=credentials, region=region(target), service=SERVICE
    )


def _row(row: Any) -> ModelInfo:
    outputs = row.get("outputModalities") or []
    kind = "embedding" if "EMBEDDING" in outputs else ("inference" if "TEXT" in outputs else None)
    return ModelInfo(
        id=payloads.text(row["modelId"]),
        name=payloads.optional_text(row.get("modelName")),
        owned_by=payloads.optional_text(row.get("providerName")),
        kind=kind,
    )


def _converse_body(model: str, prompt: str, max_tokens: int) -> bytes:
    # Bytes, not json=: SigV4 signs the exact body that is sent.
    budget = reasoning.output_budget(model, max_tokens)
    return json.dumps(
        {
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": budget},
        }
    ).encode("utf-8")


class BedrockAdapter(http.ListingProbe):
    """The Bedrock protocol (control plane + Converse API)."""

    protocol = "bedrock"

    def list_models(self, client: httpx.Client, target: Target) -> list[ModelInfo]:
        """GET /foundation-models on the control plane."""
        url = f"{control_base(target)}/foundation-models"
        payload = http.request_json(client, target, "GET", url, auth=_auth(target, "GET", url, b""))
        with payloads.shape("model listing"):
            return [_row(row) for row in payload["modelSummaries"]]

    def complete(
        self,
        client: httpx.Client,
        target: Target,
        *,
        model: str,
        prompt: str,
        max_tokens: int = 256,
    ) -> Completion:
        """A ConverseStream call."""
        clock = streams.Stopwatch()
        url = f"{target.base_url.rstrip('/')}/model/{quote(model, safe='')}/converse-stream"
        body = _converse_body(model, prompt, max_tokens)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/vnd.amazon.eventstream",
        }
        with http.open_stream(
            client,
            target,
            "POST",
            url,
            headers=headers,
            auth=_auth(target, "POST", url, body),
            content=body,
            model=model,
        ) as response:
            if http.is_json(response):
                raise ProviderBadResponse("Expected an event stream but got plain JSON")
            return self._read(target, response, model, clock)

    @staticmethod
    def _read(
        target: Target, response: httpx.Response, model: str, clock: streams.Stopwatch
    ) -> Completion:
        parts: list[str] = []
        usage: dict[str, Any] = {}
        seen = False
        for message in eventstream.decode(streams.capped_bytes(response)):
            kind = message.headers.get(":message-type", "event")
            if kind != "event":
                name = (
                    message.headers.get(":exception-type")
                    or message.headers.get(":error-code")
                    or "error"
                )
                text = message.payload.get("message") or message.headers.get(":error-message")
                raise failures.error_in_stream(target, name, text)
            event = message.headers.get(":event-type", "")
            with payloads.shape("converse stream event"):
                if event == "contentBlockDelta":
                    delta = message.payload["delta"]
                    clock.mark()
                    if "text" in delta:
                        parts.append(payloads.string(delta["text"]))
                elif event == "metadata":
                    usage = message.payload.get("usage") or {}
                seen = seen or event == "messageStart"
        if not seen:
            raise ProviderBadResponse("The stream carried no converse events")
        return Completion(
            model=model,
            text="".join(parts),
            input_tokens=payloads.optional_int(usage.get("inputTokens")),
            output_tokens=payloads.optional_int(usage.get("outputTokens")),
            ttft_ms=clock.ttft_ms,
            total_ms=clock.total_ms,
        )
