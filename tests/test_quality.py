"""Quality ratings: the shipped Arena snapshot, the name matching, the lookup interface."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.catalog import model_facts, quality
from core.catalog.quality_match import METHOD_NOTES, METHODS, Matcher, key_of, strip_provider
from core.errors import ConfigurationError, ValidationError

# A small board in the leaderboard's own spelling, for the matching rules.
BOARD = [
    "claude-3-5-sonnet-20240620",
    "claude-3-5-sonnet-20241022",
    "claude-opus-4-1-20250805",
    "claude-opus-4-1-20250805-thinking-16k",
    "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-5-high",
    "gpt-5-chat",
    "gpt-5.4",
    "gpt-5.4-high",
    "gpt-5.4-mini-high",
    "gemini-2.5-pro",
    "gemini-3-flash (thinking-minimal)",
    "mimo-v2-flash (thinking)",
    "mimo-v2-flash (non-thinking)",
    "llama-3.1-8b-instruct",
    "qwen3-max-2025-09-23",
    "qwen3-max-preview",
    "amazon-nova-pro-v1.0",
    "deepseek-r1",
    "deepseek-r1-0528",
    "phi-4",
    "qwen3-next-80b-a3b-instruct",
    "qwen3-next-80b-a3b-thinking",
    "qwen3-235b-a22b",
    "qwen3-235b-a22b-instruct-2507",
    "qwen3-235b-a22b-thinking-2507",
    "gemma-3-27b-it",
    "gpt-3.5-turbo-0125",
    "kimi-k2.5-instant",
    "kimi-k2.5-thinking",
    "mistral-medium",
    "mistral-medium-2505",
    "gemini-pro",
    "ministral-8b-2410",
]
ALIASES = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "nova-pro": "amazon-nova-pro-v1.0",
    "phi-4-reasoning": None,
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-instruct": None,
    "not-on-this-board": "no-such-name",
}


_MATCHER = Matcher(BOARD, ALIASES)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return _MATCHER


def _got(matcher: Matcher, model_id: str) -> tuple[str | None, str | None]:
    found = matcher.match(model_id)
    return found.name, found.method


@pytest.mark.parametrize(
    ("model_id", "name", "method"),
    [
        # exact: the id is the leaderboard's name (case aside)
        ("gpt-5.4", "gpt-5.4", "exact"),
        ("GPT-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "exact"),
        ("deepseek-r1", "deepseek-r1", "exact"),
        ("deepseek-r1-0528", "deepseek-r1-0528", "exact"),
        ("mistral-medium", "mistral-medium", "exact"),  # the exact id takes a versionless name
        # normalised: provider prefixes and suffixes, punctuation, -instruct
        ("models/gemini-2.5-pro", "gemini-2.5-pro", "normalised"),  # Gemini's listing
        (
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",  # Bedrock region + vendor + version
            "claude-3-5-sonnet-20241022",
            "normalised",
        ),
        ("anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1-20250805", "normalised"),
        ("claude-3-5-sonnet@20241022", "claude-3-5-sonnet-20241022", "normalised"),  # Vertex
        ("openai/gpt-4o-2024-08-06:free", "gpt-4o-2024-08-06", "normalised"),  # OpenRouter
        ("meta.llama3-1-8b-instruct-v1:0", "llama-3.1-8b-instruct", "normalised"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct", "normalised"),
        ("llama-3.1-8b", "llama-3.1-8b-instruct", "normalised"),  # the only variant listed
        ("gemma3:27b", "gemma-3-27b-it", "normalised"),  # Ollama's tag
        ("Qwen/Qwen3-Next-80B-A3B-Thinking-FP8", "qwen3-next-80b-a3b-thinking", "normalised"),
        # alias: the shipped table
        ("gpt-4o", "gpt-4o-2024-08-06", "alias"),
        ("openai/gpt-4o", "gpt-4o-2024-08-06", "alias"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125", "alias"),
        ("amazon.nova-pro-v1:0", "amazon-nova-pro-v1.0", "alias"),
        # date: a dated id and an undated name, or the reverse
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "date"),
        ("claude-opus-4-1", "claude-opus-4-1-20250805", "date"),
        ("claude-opus-4.1", "claude-opus-4-1-20250805", "date"),
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", "date"),
        ("gemini-2.5-pro-latest", "gemini-2.5-pro", "date"),
        ("gpt-5-chat-latest", "gpt-5-chat", "date"),
        # effort: effort and thinking suffixes
        ("gpt-5", "gpt-5-high", "effort"),
        ("openai/gpt-5.4-mini", "gpt-5.4-mini-high", "effort"),
        ("gemini-3-flash", "gemini-3-flash (thinking-minimal)", "effort"),
        ("claude-opus-4-1-20250805-thinking-16k", "claude-opus-4-1-20250805-thinking-16k", "exact"),
        ("claude-opus-4-1-thinking-16k", "claude-opus-4-1-20250805-thinking-16k", "date"),
    ],
)
def test_matching_methods(matcher: Matcher, model_id: str, name: str, method: str) -> None:
    assert _got(matcher, model_id) == (name, method)
    assert method in METHODS and set(METHOD_NOTES) == set(METHODS)


@pytest.mark.parametrize(
    ("model_id", "candidates"),
    [
        # two snapshots of one undated id: which one is it?
        ("claude-3-5-sonnet", ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022")),
        ("qwen3-max", ("qwen3-max-2025-09-23", "qwen3-max-preview")),
        # two efforts (thinking and not) of one model
        ("mimo-v2-flash", ("mimo-v2-flash (non-thinking)", "mimo-v2-flash (thinking)")),
        ("moonshotai/kimi-k2.5", ("kimi-k2.5-instant", "kimi-k2.5-thinking")),
        # an id without its variant when the board lists several (instruct, thinking)
        ("qwen3-next-80b-a3b", ("qwen3-next-80b-a3b-instruct", "qwen3-next-80b-a3b-thinking")),
        # a dated id the board lists under two variants: never the undated original
        (
            "qwen/qwen3-235b-a22b-2507",
            ("qwen3-235b-a22b-instruct-2507", "qwen3-235b-a22b-thinking-2507"),
        ),
        ("gpt-5-4", ("gpt-5.4",)),  # not ambiguous: punctuation only, for contrast
        # one name, two models: the versionless 2023 name or the 2025 model of that name
        ("mistral/mistral-medium", ("mistral-medium", "mistral-medium-2505")),
    ],
)
def test_ambiguous_ids_are_left_unmatched(
    matcher: Matcher, model_id: str, candidates: tuple[str, ...]
) -> None:
    found = matcher.match(model_id)
    if len(candidates) == 1:
        assert found.name == candidates[0]
        return
    assert found.name is None and found.method is None
    assert found.ambiguous and found.candidates == candidates


def test_an_alias_whose_snapshot_a_board_lacks_is_not_rated_there() -> None:
    # The vision board may list only another snapshot: the alias says which one gpt-4o is.
    vision = Matcher(["gpt-4o-2024-05-13"], {"gpt-4o": "gpt-4o-2024-08-06"})
    assert vision.match("gpt-4o").name is None
    assert Matcher(["gpt-4o-2024-05-13"]).match("gpt-4o").name == "gpt-4o-2024-05-13"


def test_one_name_two_entries_is_ambiguous_even_at_the_exact_level() -> None:
    found = Matcher(["GPT-4.1", "gpt-4.1-x", "gpt-4-1"]).match("gpt-4.1")
    assert found.name == "GPT-4.1" and found.method == "exact"
    assert Matcher(["gpt-4.1", "gpt-4-1"]).match("gpt4.1").ambiguous


@pytest.mark.parametrize(
    "model_id",
    [
        "gpt-4o-2024-11-20",  # a snapshot the board does not have: never another date's rating
        "deepseek-r1-0120",  # same
        "phi-4-reasoning",  # a distinct model the alias table keeps apart from phi-4
        "gpt-3.5-turbo-instruct",  # same (the alias of gpt-3.5-turbo must not catch it)
        "gpt-5.4-nano",  # another model entirely
        "qwen3",  # "-max" is a model name, not an effort: qwen3 is not qwen3-max
        "claude-opus-4-1-20250805-thinking-32k",  # another thinking budget
        "not-on-this-board",  # an alias whose target the board lacks: not rated here
        "gemini-pro-latest",  # a moving pointer of a versionless family: not gemini-pro
        "ministral-8b-latest",  # a moving pointer: not the one dated snapshot listed
        "",
        "   ",
    ],
)
def test_no_guessing(matcher: Matcher, model_id: str) -> None:
    found = matcher.match(model_id)
    assert found.name is None and not found.ambiguous


@given(
    st.one_of(
        st.text(max_size=80),
        st.sampled_from(BOARD).map(lambda n: f"~vendor/{n.upper()}:free"),
        st.from_regex(r"[a-z]{1,8}[-.:@/_ ][0-9a-z.()-]{0,20}", fullmatch=True),
    )
)
def test_any_id_gets_a_board_name_or_nothing(model_id: str) -> None:
    found = _MATCHER.match(model_id)
    assert found.name is None or (found.name in BOARD and found.method in METHODS)
    assert found.name is None or not found.candidates
    assert set(found.candidates) <= set(BOARD)


def test_keys() -> None:
    assert strip_provider("~openai/gpt-4o:extended") == "gpt-4o"
    assert strip_provider("gemma3:27b") == "gemma3-27b"  # Ollama's size tag stays
    assert strip_provider("openai/gpt-5:thinking") == "gpt-5-thinking"
    key = key_of("deepseek-v4-pro-high-20260813")
    assert (key.base, key.tag, key.effort) == ("deepseekv4pro", "20260813", "high")
    key = key_of("gemini-2.5-flash-lite-preview-06-17-thinking")
    assert (key.base, key.tag, key.effort) == ("gemini25flashlite", "06-17", "thinking")
    assert key_of("qwen3-max").base == "qwen3max"
    assert key_of("deepseek-v3").base == "deepseekv3"


# --- The shipped snapshot ---------------------------------------------------------------------


def test_snapshot_info_names_source_date_and_licence() -> None:
    info = quality.snapshot_info()
    assert info.licence == "CC BY 4.0"
    assert info.licence_url.startswith("https://creativecommons.org/licenses/by/4.0")
    assert info.url.startswith("https://") and "arena" in info.url
    assert "lmarena-ai/leaderboard-dataset" in info.dataset_url
    assert "Arena" in info.attribution and "CC BY 4.0" in info.attribution
    assert "rounded" in info.changes and "dropped" in info.changes
    assert info.fetched == date(2026, 10, 5)
    assert set(info.boards) == set(quality.BOARDS)
    assert all(info.origins[b] for b in quality.BOARDS)
    notice = (quality.DATA_DIR / "NOTICE-arena.md").read_text(encoding="utf-8")
    for text in (info.file, info.licence, info.licence_url, info.attribution, info.changes):
        assert text in notice


def test_shipped_boards_are_full() -> None:
    data = quality.shipped()
    sizes = {board: len(entries) for board, entries in data.boards.items()}
    assert sizes["text"] >= 400 and sizes["coding"] >= 400 and sizes["vision"] >= 150
    assert all(e.ci_low <= e.score <= e.ci_high for b in data.boards.values() for e in b.values())


def test_rating_for_gives_the_number_its_interval_and_provenance() -> None:
    rating = quality.rating_for("openai", "gpt-4o")
    assert rating is not None
    assert rating.method == "alias" and rating.matched_name == "gpt-4o-2024-08-06"
    assert rating.ci_low < rating.score < rating.ci_high and rating.votes > 1000
    assert rating.board == "text" and rating.licence == "CC BY 4.0"
    assert rating.fetched == date(2026, 10, 5) and "Arena" in rating.source
    coding = quality.rating_for("openai", "gpt-4o", board="coding")
    assert coding is not None and coding.board == "coding" and coding.score != rating.score
    bedrock = quality.rating_for(
        "amazon_bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", board="text"
    )
    assert bedrock is not None and bedrock.matched_name == "claude-3-5-sonnet-20241022"
    assert quality.rating_for("openai", "gpt-4o-2024-11-20") is None
    assert quality.rating_for("openai", "gpt-4o") is rating  # kept: a dictionary read
    assert (
        rating.text() == "Arena text (overall) 1336 (95 % CI 1331–1340, 45,499 votes, 2026-10-05)"
    )
    assert rating.provenance() == (
        "Arena (formerly LMArena) leaderboards, as gpt-4o-2024-08-06 (a known alias); CC BY 4.0"
    )


@pytest.mark.parametrize(
    ("provider_type", "model_id", "name", "method"),
    [
        ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "date"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", "alias"),
        (
            "amazon_bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5-20250929",
            "normalised",
        ),
        (
            "amazon_bedrock",
            "meta.llama3-1-70b-instruct-v1:0",
            "llama-3.1-70b-instruct",
            "normalised",
        ),
        ("amazon_bedrock", "amazon.nova-pro-v1:0", "amazon-nova-pro-v1.0", "alias"),
        ("google_vertex", "claude-3-5-sonnet@20241022", "claude-3-5-sonnet-20241022", "normalised"),
        ("google_gemini", "gemini-2.5-pro", "gemini-2.5-pro", "exact"),
        ("openrouter", "openai/gpt-4o", "gpt-4o-2024-08-06", "alias"),
        ("openai", "gpt-5", "gpt-5-high", "effort"),
        ("openai", "o3", "o3-2025-04-16", "date"),
        ("groq", "llama-3.3-70b-versatile", "llama-3.3-70b-instruct", "alias"),
        ("openai", "gpt-4o-2024-11-20", None, None),  # not on the board
        ("mistral", "mistral-small-latest", None, None),  # a moving pointer
        ("x_ai", "grok-4-fast-non-reasoning", None, None),  # only the reasoning one is rated
        ("openrouter", "mistralai/mistral-medium", None, None),  # one name, two models
    ],
)
def test_catalog_entries_match_as_expected(
    provider_type: str, model_id: str, name: str | None, method: str | None
) -> None:
    assert model_facts.lookup(provider_type, model_id) is not None  # a real catalog entry
    rating = quality.rating_for(provider_type, model_id)
    got = (rating.matched_name, rating.method) if rating else (None, None)
    assert got == (name, method)


def test_unknown_board_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="Unknown quality board 'chess'"):
        quality.rating_for("openai", "gpt-4o", board="chess")


def test_aliases_point_at_names_on_the_text_board() -> None:
    names = set(quality.shipped().boards["text"])
    aliases = quality.load_aliases()
    assert {t for t in aliases.values() if t is not None} <= names


def test_a_broken_snapshot_is_refused(tmp_path) -> None:
    good = json.loads(quality.snapshot_files()[-1].read_text(encoding="utf-8"))
    for breakage in (
        lambda d: d.pop("licence"),
        lambda d: d["boards"]["text"].update(fetched="soon"),
        lambda d: d["boards"]["text"]["entries"][0].__setitem__(1, 9999.0),  # outside its CI
        lambda d: d["boards"].update(chess={"fetched": "2026-10-05", "entries": []}),
    ):
        doc = json.loads(json.dumps(good))
        breakage(doc)
        path = tmp_path / "arena-2026-10-05.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        with pytest.raises(ConfigurationError):
            quality.load(path, aliases={})
