"""The Models page (AppTest on SQLite): table, filters, add/edit form and its messages, the
stale-edit conflict, write-only secret config, search and pages. Toggle, delete and share:
test_page_model_actions.py; members and "What users see": test_page_models_members.py."""

from __future__ import annotations

from typing import Any

import pytest

from core.accounts import users
from core.costs import UNKNOWN
from core.records import model_records
from core.store.tables import ModelRecord
from tests.support import factories as f
from tests.support.console import Console, texts
from tests.support.models_page import (
    PAGE,
    add,
    everything,
    fill,
    names,
    pick,
    row,
    seed,
    submit,
)

CANARY = "sk-CANARY-7f3e9c1d5b"


# --- Empty database, table and filters -----------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_empty_database_says_a_provider_is_needed_first(console: Console, role: str) -> None:
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
        f.user(s, "bob")
    at = console.open(PAGE, as_user="alice" if role == "admin" else "bob")
    assert not at.exception
    assert "a model needs a provider first" in texts(at)
    assert [link.proto.label for link in at.page_link] == ["Go to Providers"]
    assert not at.dataframe and not at.text_input


def test_a_provider_without_models_offers_the_add_form(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        f.provider(s, f.user(s, "alice", "admin"), "OpenAI")
    at = console.open(PAGE, as_user="alice")
    assert "No models yet: add the first one below." in texts(at) and not at.dataframe
    assert at.selectbox(key="model_add_provider").options == ["OpenAI"]


def test_table_shows_exact_decimal_prices_and_empty_for_unpriced(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    gpt = row(at, "GPT-4o")
    # costs.usd's text (the edit form keeps the exact digits); unpriced is UNKNOWN, not 0
    assert (gpt["Input /M"], gpt["Output /M"], gpt["Context"]) == ("$2.50", "$10.00", 128000)
    assert gpt["Cache read /M"] == UNKNOWN and gpt["Cache write /M"] == UNKNOWN
    assert row(at, "Embed small")["Input /M"] == "$0.02"
    assert row(at, "GPT-4o Azure")["Scope"] == "shared"
    assert row(at, "O3 private")["Scope"] == "private"
    assert row(at, "Llama 3")["Provider"] == "Groq (inactive)"
    assert "Phi-3" not in names(at)  # bob's private model: only with "Show all records"
    at.toggle(key="models_all").set_value(True).run()
    assert "Phi-3" in names(at)
    assert row(at, "Phi-3")["Owner"] == "bob"


def test_quality_is_the_records_tier_else_its_arena_rating(console: Console) -> None:
    ids = seed(console)
    with console.runtime.sessions.begin() as s:
        s.get(ModelRecord, ids["o3"]).quality_tier = "high"
    at = console.open(PAGE, as_user="alice")
    quality = row(at, "GPT-4o")["Quality"]
    assert quality.startswith("Arena ") and "±" in quality and "text board" in quality
    assert row(at, "GPT-4o Azure")["Quality"] == quality  # the same model on Azure
    assert row(at, "O3 private")["Quality"] == "high [set on the model record]"


def test_filters_by_provider_type_and_status(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    at.multiselect(key="models_f_provider").set_value([str(ids["azure_p"])]).run()
    assert names(at) == ["GPT-4o Azure", "O3 private"]
    at.multiselect(key="models_f_provider").set_value([]).run()
    at.multiselect(key="models_f_type").set_value(["embedding"]).run()
    assert names(at) == ["Embed small"]
    at.multiselect(key="models_f_type").set_value([]).run()
    at.multiselect(key="models_f_status").set_value(["inactive"]).run()
    assert names(at) == ["GPT-3.5"]
    at.multiselect(key="models_f_type").set_value(["rerank"]).run()
    assert not at.dataframe and "No model matches these filters." in texts(at)


# --- Add and edit ------------------------------------------------------------------------


def test_add_model_through_the_form(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    at = add(
        at,
        provider=str(ids["openai"]),
        input="0.15",
        output="0.600",
        cache_read="0.075",
        context="128000",
        config='{"temperature": 0.2}',
    )
    assert not at.exception and not at.error
    assert "Model 'GPT-4o mini' added." in texts(at)
    mini = row(at, "GPT-4o mini")
    assert (mini["Input /M"], mini["Output /M"], mini["Cache read /M"]) == (
        "$0.15",
        "$0.60",
        "$0.075",
    )
    assert mini["Cache write /M"] == UNKNOWN and mini["Provider"] == "OpenAI"
    assert at.text_input(key="model_add_name").value == ""  # the form starts afresh


def test_the_model_id_is_the_deployment_on_azure_and_the_forms_say_so(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="alice")
    assert "deployment name" in at.text_input(key="model_add_model_id").help
    at = at.segmented_control(key="models_view").set_value("Import from provider").run()
    assert "model ID must be its deployment name" in texts(at)


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(input="-1"), "The input cost per million cannot be negative."),
        (dict(output="abc"), "The output cost per million must be a number."),
        (dict(context="lots"), "The context window must be a whole number of tokens."),
        (dict(name=" "), "The name cannot be empty."),
        (dict(config='{"temperature": 0.2,\n  "top_p": }'), "line 2, column 12"),
        (dict(config='{"a": 1, "a": 2}'), 'the key "a" twice'),
        (dict(model_id="gpt-4o"), "'OpenAI' already has a model with ID 'gpt-4o'."),
    ],
    ids=["negative", "abc", "context", "name", "json", "json-duplicate", "duplicate-id"],
)
def test_form_validation_messages(console: Console, values: dict[str, Any], message: str) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    values = {"name": "Kept name", "model_id": "kept-id", **values}
    at = add(at, provider=str(ids["openai"]), **values)
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert "Kept name" not in names(at)
    assert at.text_input(key="model_add_model_id").value == values["model_id"]  # input kept
    assert at.text_area(key="model_add_config").value == values.get("config", "")


def test_edit_model_saves_exact_prices(console: Console) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["gpt"])
    assert at.text_input(key="model_edit_input").value == "2.5"
    at = submit(fill(at, "edit", input="1.25", cache_write="3.750", wide=False), "edit")
    assert "Model 'GPT-4o' saved." in texts(at)
    gpt = row(at, "GPT-4o")
    assert (gpt["Input /M"], gpt["Cache write /M"], gpt["Scope"]) == ("$1.25", "$3.75", "private")


@pytest.mark.parametrize("rerun_first", [False, True])
def test_stale_edit_shows_who_changed_it_and_keeps_the_input(
    console: Console, rerun_first: bool
) -> None:
    ids = seed(console)
    at = pick(console.open(PAGE, as_user="alice"), ids["gpt"])
    with console.runtime.sessions.begin() as s:
        model_records.update_model(
            s,
            actor=users.require_user(s, "carol"),
            model_record_id=ids["gpt"],
            expected_version=None,
            name="GPT-4o (carol)",
        )
    if rerun_first:  # any rerun (a filter, say) warns the editor before they save
        assert "changed since you opened it" in texts(at.run())
    at = submit(fill(at, "edit", name="GPT-4o (alice)", output="12"), "edit")
    assert not at.exception
    conflict = " ".join(e.value for e in at.error)
    assert "changed by carol at" in conflict and "reload" in conflict
    assert at.text_input(key="model_edit_name").value == "GPT-4o (alice)"
    assert at.text_input(key="model_edit_output").value == "12"
    assert "GPT-4o (carol)" in names(at)  # nothing was overwritten
    at = submit(at, "edit")  # saving again is still refused until a reload
    assert "GPT-4o (alice)" not in names(at) and "changed by carol" in texts(at)
    at = at.button(key="model_edit_reload").click().run()
    assert at.text_input(key="model_edit_name").value == "GPT-4o (carol)"
    at = submit(fill(at, "edit", name="GPT-4o (alice)"), "edit")
    assert "GPT-4o (alice)" in names(at)


# --- Secrets in model_config ----------------------------------------------------------------


def test_secret_config_canary_on_success(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    config = f'{{"temperature": 0.1, "api_key": "{CANARY}"}}'
    at = add(at, provider=str(ids["openai"]), config=config)
    assert "Model 'GPT-4o mini' added." in texts(at)
    assert CANARY not in everything(at)
    with console.runtime.sessions() as s:
        mini = next(
            v
            for v in model_records.list_models(s, user=users.require_user(s, "alice"))
            if v.name == "GPT-4o mini"
        )
    at = pick(at, mini.id)
    assert '"temperature": 0.1' in at.text_area(key="model_edit_config").value
    assert "`api_key` set (hidden)" in texts(at)
    assert CANARY not in everything(at)
    at = submit(fill(at, "edit", config='{"temperature": 0.3}'), "edit")  # omitted: kept
    with console.runtime.sessions() as s:
        view = model_records.get_model_view(
            s, user=users.require_user(s, "alice"), model_record_id=mini.id
        )
        assert view.secret_config_keys == ("api_key",) and view.config == {"temperature": 0.3}


@pytest.mark.parametrize("form", ["add", "edit"])
def test_secret_config_canary_on_failure(console: Console, form: str) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    if form == "edit":
        at = pick(at, ids["gpt"])
    config = f'{{"temperature": 0.1, "api_key": "{CANARY}"}}'
    at = submit(
        fill(at, form, name="With secret", model_id="with-secret", input="-2", config=config), form
    )
    assert any("cannot be negative" in e.value for e in at.error)
    assert CANARY not in everything(at)
    assert '"temperature": 0.1' in at.text_area(key=f"model_{form}_config").value
    assert "secret values you typed were cleared" in texts(at)
    assert at.text_input(key=f"model_{form}_name").value == "With secret"
    broken = f'{{"api_key": "{CANARY}",\n "x": }}'  # unparsable: dropped whole
    at = submit(fill(at, form, input="1", config=broken), form)
    assert any("line 2, column" in e.value for e in at.error)
    assert CANARY not in everything(at)


# --- Search and pages ----------------------------------------------------------------------


def test_search_matches_name_model_id_and_provider(console: Console) -> None:
    seed(console)
    at = console.open(PAGE, as_user="alice")
    at.text_input(key="models_q").set_value("gpt-4O").run()
    assert names(at) == ["GPT-4o", "GPT-4o Azure"]
    at.text_input(key="models_q").set_value("azure eu").run()
    assert names(at) == ["GPT-4o Azure", "O3 private"]
    at.text_input(key="models_q").set_value("nothing like it").run()
    assert not at.dataframe and "No model matches these filters." in texts(at)


def test_the_table_is_paged_and_a_new_search_starts_at_page_one(console: Console) -> None:
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        p = f.provider(s, alice, "Bulk", instance_wide=True)
        for i in range(60):
            f.model(s, alice, p, f"m-{i:02d}", name=f"Model {i:02d}", instance_wide=True)
    at = console.open(PAGE, as_user="alice")
    assert names(at) == [f"Model {i:02d}" for i in range(50)]
    assert "Models 1–50 of 60" in texts(at)
    at.selectbox(key="models_page_size").set_value(25).run()
    at.number_input(key="models_page").set_value(3).run()
    assert names(at) == [f"Model {i:02d}" for i in range(50, 60)]
    assert "Models 51–60 of 60" in texts(at)
    at.text_input(key="models_q").set_value("model 1").run()  # Model 1, 10–19
    assert at.number_input(key="models_page").value == 1
    assert names(at) == [f"Model {i:02d}" for i in range(10, 20)]
    at.text_input(key="models_q").set_value("").run()
    at.selectbox(key="models_page_size").set_value(100).run()
    assert len(names(at)) == 60 and not at.exception


# --- Every problem at once; the provider is kept for the next model ----------------------


def test_every_field_problem_is_shown_at_once_under_its_input(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    at = add(
        at,
        provider=str(ids["openai"]),
        name=" ",
        model_id="has space",
        input="-1",
        context="lots",
        config='{"a": 1, "a": 2}',
    )
    errors = [e.value for e in at.error]
    assert len(errors) == 5, errors
    for message in (
        "The name cannot be empty.",
        "must not contain spaces",
        "The input cost per million cannot be negative.",
        "The context window must be a whole number of tokens.",
        'the key "a" twice',
    ):
        assert sum(message in e for e in errors) == 1, (message, errors)
    assert "has space" not in texts(at)  # nothing saved


def test_after_add_model_the_provider_stays_selected(console: Console) -> None:
    ids = seed(console)
    at = console.open(PAGE, as_user="alice")
    at = add(at, provider=str(ids["azure_p"]), name="Azure mini", model_id="gpt-4o-mini")
    assert "Model 'Azure mini' added." in texts(at)
    assert at.selectbox(key="model_add_provider").value == str(ids["azure_p"])
    assert at.text_input(key="model_add_name").value == ""  # the rest starts afresh
    at = add(at, name="Azure o1", model_id="o1")
    assert row(at, "Azure o1")["Provider"] == "Azure EU"
