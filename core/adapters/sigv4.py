"""AWS Signature Version 4, written out with hashlib and hmac (no SDK).

    canonical request = METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n
                        signed header names \\n hex(SHA-256(body))
    string to sign    = "AWS4-HMAC-SHA256" \\n amz-date \\n scope \\n
                        hex(SHA-256(canonical request))
    scope             = yyyymmdd/region/service/aws4_request
    signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service),
                             "aws4_request")
    Authorization     = AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=a;b, Signature=hex

Services other than S3 encode each path segment once more when canonicalising, so a model
id sent as ``a%3A0`` is signed as ``a%253A0``. The tests check ``sign`` against AWS's
published get-vanilla vector.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class AwsCredentials:
    """An access key pair, with the session token of temporary credentials."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def canonical_uri(raw_path: str) -> str:
    """The path as sent, each segment URI-encoded again (the non-S3 rule)."""
    return "/".join(quote(segment, safe="-_.~") for segment in raw_path.split("/")) or "/"


def canonical_query(raw_query: str) -> str:
    """Query pairs decoded, re-encoded strictly and sorted."""
    pairs = []
    for item in filter(None, raw_query.split("&")):
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str, raw_target: str, headers: Mapping[str, str], signed: list[str], payload_hash: str
) -> str:
    """The canonical request for a request line target (path?query) and its headers."""
    path, _, query = raw_target.partition("?")
    lowered = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    canon_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canon_headers,
            ";".join(signed),
            payload_hash,
        ]
    )


def signature(
    credentials: AwsCredentials, *, amz_date: str, region: str, service: str, canonical: str
) -> str:
    """The hex signature of a canonical request."""
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, sha256_hex(canonical.encode("utf-8"))])
    key = _hmac(("AWS4" + credentials.secret_access_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    method: str,
    url: str,
    *,
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign this request: x-amz-date, the session token, Authorization."""
    amz_date = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    parsed = httpx.URL(url)
    headers = {"host": parsed.netloc.decode("ascii"), "x-amz-date": amz_date}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    signed = sorted(headers)
    canonical = canonical_request(
        method, parsed.raw_path.decode("ascii"), headers, signed, sha256_hex(body)
    )
    sig = signature(
        credentials, amz_date=amz_date, region=region, service=service, canonical=canonical
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={sig}"
    )
    del headers["host"]  # httpx writes the same Host itself
    return headers
