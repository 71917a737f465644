"""A fake Amazon Bedrock: control-plane listing and ConverseStream on one server.

Auth is a Bedrock API key (``Authorization: Bearer``) or, when the fake is built with
``access_key_id`` / ``secret_access_key`` (and optionally ``session_token``), a SigV4
signature that the fake recomputes from the request exactly as it arrived (raw path,
headers, body), so an encoding slip between signing and sending fails here.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from core.adapters import eventstream, sigv4
from core.adapters.base import Target
from tests.fakes.protocols import Protocol
from tests.fakes.server import Reply, json_reply

if TYPE_CHECKING:
    from tests.fakes.server import Request

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)
ERROR_TYPES = {
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    400: "ValidationException",
}


class Bedrock(Protocol):
    name, provider_type = "bedrock", "amazon_bedrock"
    default_models = ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-embed-text-v2:0")

    @property
    def sigv4(self) -> bool:
        return bool(self.options.get("secret_access_key"))

    def error(self, status: int, message: str, headers: dict[str, str]) -> Reply:
        kind = ERROR_TYPES.get(status, "ValidationException")
        return json_reply({"message": message}, status, {"x-amzn-ErrorType": kind, **headers})

    def target(self, **overrides: Any) -> Target:
        config: dict[str, Any] = {"base_url": self.fake.base_url, "region": "us-east-1"}
        if self.sigv4:
            config.update(
                {
                    k: self.options[k]
                    for k in ("access_key_id", "secret_access_key", "session_token")
                    if self.options.get(k)
                }
            )
        return super().target(
            **{"config": config, "api_key": None if self.sigv4 else self.fake.key, **overrides}
        )

    def authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if not self.sigv4:
            return self.fake.key is None or auth == f"Bearer {self.fake.key}"
        found = _AUTH.match(auth)
        if not found:
            return False
        access, day, region, service, signed, signature = found.groups()
        token = self.options.get("session_token")
        if (
            access != self.options["access_key_id"]
            or service != "bedrock"
            or region != "us-east-1"
            or "host" not in signed.split(";")
            or request.headers.get("x-amz-date", "")[:8] != day
            or (token and request.headers.get("x-amz-security-token") != token)
        ):
            return False
        credentials = sigv4.AwsCredentials(access, self.options["secret_access_key"], token)
        canonical = sigv4.canonical_request(
            request.method,
            request.path,
            request.headers,
            signed.split(";"),
            hashlib.sha256(request.body).hexdigest(),
        )
        return signature == sigv4.signature(
            credentials,
            amz_date=request.headers["x-amz-date"],
            region=region,
            service=service,
            canonical=canonical,
        )

    def handle(self, request: Request, *, stream_error: bool) -> Reply:
        if not self.authorized(request):
            return self.error(
                403,
                "The request signature we calculated does not match the signature you provided.",
                {},
            )
        return self.route(request, stream_error)

    def route(self, request: Request, stream_error: bool) -> Reply:
        if request.method == "GET" and request.route == "/foundation-models":
            return json_reply(
                {
                    "modelSummaries": [
                        {
                            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{m}",
                            "modelId": m,
                            "modelName": m.split(".")[1].split("-v")[0],
                            "providerName": m.split(".")[0],
                            "inputModalities": ["TEXT"],
                            "outputModalities": ["EMBEDDING"] if "embed" in m else ["TEXT"],
                            "responseStreamingSupported": "embed" not in m,
                            "inferenceTypesSupported": ["ON_DEMAND"],
                            "modelLifecycle": {"status": "ACTIVE"},
                        }
                        for m in self.fake.models
                    ]
                }
            )
        found = re.fullmatch(r"/model/([^/]+)/converse-stream", request.route)
        if request.method == "POST" and found:
            model = unquote(found.group(1))
            if model not in self.fake.models:
                return self.error(400, "The provided model identifier is invalid.", {})
            # Each message cut in two mid-prelude, so messages straddle chunk boundaries.
            pieces = [
                part
                for message in self._events(stream_error)
                for part in (message[:7], message[7:])
            ]
            return Reply(200, {"Content-Type": "application/vnd.amazon.eventstream"}, pieces)
        return self.not_found(request)

    def _events(self, stream_error: bool) -> list[bytes]:
        def event(kind: str, payload: dict[str, Any]) -> bytes:
            return eventstream.encode(
                {
                    ":event-type": kind,
                    ":content-type": "application/json",
                    ":message-type": "event",
                },
                payload,
            )

        out = [event("messageStart", {"role": "assistant"})]
        for piece in self.pieces():
            out.append(
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
            )
            if stream_error:
                out.append(
                    eventstream.encode(
                        {
                            ":exception-type": "throttlingException",
                            ":content-type": "application/json",
                            ":message-type": "exception",
                        },
                        {"message": "Too many requests, please wait."},
                    )
                )
                return out
        return out + [
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "end_turn"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14},
                    "metrics": {"latencyMs": 120},
                },
            ),
        ]
