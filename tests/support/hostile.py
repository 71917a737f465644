"""Members' text built to load remote content: a database seeded with it, for the page
tests (AppTest) and the browser test.

A member (bob) names his providers and models, gives one a base URL with a backtick and
gets a provider error that quotes all of it; the admin (alice) is granted the records, so
every page she opens shows them. Nothing of it may become an image, a link or HTML.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.accounts import access, users
from core.errors import ProviderUnauthorized
from core.probes import health
from core.records import model_records, providers
from tests.support.health_fakes import FakeAdapter, raises, seams

PASSWORD = "hostile-pass-12345"


def image(host: str) -> str:
    """An image that, rendered, makes the browser fetch http://host/x.png."""
    return f"![x](http://{host}/x.png)"


LINK = "[x](javascript:alert(1))"
TAG = "<img src=x onerror=alert(1)>"


def text(host: str, prefix: str) -> str:
    """A name (at most 100 characters) holding all three."""
    return f"{prefix} {image(host)} {LINK} {TAG}"


def model_id(host: str) -> str:
    """A model id (no spaces) holding all three."""
    return f"{image(host)}{LINK}{TAG.replace(' ', '/')}"


def base_url(host: str) -> str:
    """A valid base URL whose backtick would end a Markdown code span early."""
    return f"http://{host}/v1/`{image(host)}`"


def seed(runtime: Any, host: str, deprecated: tuple[str, str]) -> dict[str, str]:
    """alice (admin) and bob (member, hostile display name); bob's hostile providers and
    models, granted to alice; a stored health check whose reason quotes the provider's
    hostile error text. ``deprecated`` is a (provider type, model id) the catalog marks
    deprecated, so the Models page warns about it. Returns the names used."""
    names = {
        "provider": text(host, "P"),
        "other": text(host, "Q"),
        "model": text(host, "M"),
        "old": text(host, "D"),
        "display": text(host, "Bob"),
    }
    with runtime.sessions.begin() as s:
        alice = users.create_user(
            s, username="alice", password=PASSWORD, role="admin", display_name="Alice Admin"
        )
        bob = users.create_user(s, username="bob", password=PASSWORD, display_name=names["display"])
        s.flush()
        first = providers.create_provider(
            s,
            actor=bob,
            name=names["provider"],
            provider_type="openai",
            api_key="sk-hostile-0000000000",
            provider_config={"base_url": base_url(host)},
        )
        ptype, old_id = deprecated
        config = {"base_url": f"http://{host}/v1"} if ptype != "openai" else None
        second = providers.create_provider(
            s,
            actor=bob,
            name=names["other"],
            provider_type=ptype,
            api_key="sk-hostile-1111111111",
            provider_config=config,
        )
        s.flush()
        made = [
            model_records.create_model(
                s,
                actor=bob,
                provider_id=first.id,
                model_id=model_id(host),
                name=names["model"],
                input_cost_per_million="0.0000001",
                output_cost_per_million="1",
                context_window=128000,
            ),
            model_records.create_model(
                s,
                actor=bob,
                provider_id=second.id,
                model_id=old_id,
                name=names["old"],
                input_cost_per_million="2.5",
                output_cost_per_million="10",
            ),
        ]
        s.flush()
        for record in (first, second, *made):
            access.grant(s, actor=alice, record=record, user=alice)
        first_id = first.id
    adapter = FakeAdapter(
        {
            base_url(host): raises(
                lambda t: ProviderUnauthorized(
                    "HTTP 401: " + json.dumps({"error": {"message": text(host, "E")}})
                )
            )
        }
    )
    health.check_providers(runtime, provider_ids=[first_id], **seams(adapter))
    return names


def plain(markdown: str) -> str:
    """A Markdown source without its code spans (whose content is inert), as CommonMark
    reads them: outside a span a backslash escapes the next character; a run of n
    backticks opens a span closed by the next run of exactly n (backslashes inside are
    plain), and is literal text when there is none."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\":
            out.append(markdown[i : i + 2])
            i += 2
            continue
        if markdown[i] != "`":
            out.append(markdown[i])
            i += 1
            continue
        run = re.match(r"`+", markdown[i:]).group()
        after = i + len(run)
        close = next((m for m in re.finditer(r"`+", markdown[after:]) if m.group() == run), None)
        if close is None:
            out.append(run)
            i = after
        else:
            i = after + close.end()
    return "".join(out)


# Raw (unescaped) fragments that Markdown turns into an image, a link, an autolink or
# HTML: none may be in a Markdown source outside a code span.
LIVE = ("[x](", "://1", "<img", "<a ")


def live_markup(markdown: str) -> list[str]:
    """The LIVE fragments a Markdown source holds outside its code spans and escapes."""
    source = re.sub(r"\\.", "", plain(markdown))  # an escaped character is plain text
    return [f for f in LIVE if f in source]


# --- The reliability suite's payloads (tests/reliability/test_hostile_*.py) -----------------

RLO = "\u202e"  # right-to-left override: "abc\u202etxt.exe" reads as "abcexe.txt"
ZWJ = "\u200d"  # zero-width joiner: two names that look the same
REMOTE_IMAGE = image("127.0.0.1:9")
PAYLOADS = {
    "html": TAG,
    "js-link": LINK,
    "remote-image": REMOTE_IMAGE,
    "rlo": f"invoice{RLO}fdp.exe",
    "zwj": f"Open{ZWJ}AI",
    "nul": "null\x00byte",
    "10k": "A" * 10_000,
}
# Text that must never reach a stored name: shown to others, it would lie about what it says.
INVISIBLE = ("rlo", "zwj", "nul")


def deep_json(levels: int = 100_000) -> str:
    """An array nested ``levels`` deep: '[[[…]]]'."""
    return "[" * levels + "]" * levels


def deep_object(levels: int = 100_000) -> str:
    """An object nested ``levels`` deep: '{"a":{"a":…1…}}'."""
    return '{"a":' * levels + "1" + "}" * levels


# "Billion laughs": ten aliases of ten aliases... a few hundred bytes that expand to 10**9.
YAML_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    + ["providers: *i"]
)
# The same through a merge key, the other way YAML dereferences an alias.
YAML_MERGE_BOMB = "base: &b {name: x}\nproviders:\n  - <<: *b\n    provider_type: openai\n"
