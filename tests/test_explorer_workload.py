"""The workload calculator (core.explorer.workload): monthly costs sorted with unpriced
last, cached shares, a CSV safe to open in a spreadsheet, and which models are left out
(context window, unknown features, the quality floor)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from core.costs import Prices
from core.errors import ValidationError
from core.explorer import workload
from core.explorer.registry import ModelCapability
from tests.support.capabilities import cap

# --- The workload calculator ------------------------------------------------------------------

CHEAP = Prices(input=Decimal(1), output=Decimal(2), cache_read=Decimal("0.1"))
DEAR = Prices(input=Decimal(10), output=Decimal(30))
PRICES = {"cheap": CHEAP, "dear": DEAR, "free": Prices(input=Decimal(0), output=Decimal(0))}


def priced(model: ModelCapability) -> Prices | None:
    return PRICES.get(model.model)


def test_monthly_costs_sort_priced_first_and_never_call_unpriced_free() -> None:
    models = [
        cap("dear"),
        cap("unknown-b", name="B"),
        cap("cheap"),
        cap("unknown-a", name="A"),
        cap("free"),
    ]
    rows = workload.monthly_costs(models, workload.Workload(1000, 100, Decimal(0), 1000), priced)
    assert [r.model.model for r in rows] == ["free", "cheap", "dear", "unknown-a", "unknown-b"]
    assert [r.rank for r in rows] == [1, 2, 3, None, None]
    assert rows[1].cost.total == Decimal("1.2")  # 1000 × (1000 × $1 + 100 × $2) / 1M
    assert rows[3].cost.label() == "unpriced" and rows[3].note.startswith("unpriced: ")
    assert workload.frame(rows)["Monthly cost"].tolist() == [
        "$0.00",
        "$1.20",
        "$13.00",
        "unpriced",
        "unpriced",
    ]
    tiny = workload.monthly_costs([cap("cheap")], workload.Workload(1, 0, Decimal(0), 1), priced)
    assert workload.money(tiny[0].cost) == "$0.000001"  # below a cent: significant digits


def test_a_cached_share_lowers_the_cost_where_cache_reads_are_cheaper() -> None:
    def total(share: str, model: str) -> Decimal:
        rows = workload.monthly_costs(
            [cap(model)], workload.Workload(1000, 0, Decimal(share), 1000), priced
        )
        return rows[0].cost.total

    assert total("0.5", "cheap") < total("0", "cheap")
    assert total("0.5", "dear") == total("0", "dear")  # no cache price: input price


def test_workload_csv_is_exact_and_safe_in_a_spreadsheet() -> None:
    models = [cap("cheap", name='=HYPERLINK("http://evil")'), cap("@sum", name="+1"), cap("dear")]
    rows = workload.monthly_costs(models, workload.Workload(1000, 100, Decimal(0), 3), priced)
    parsed = list(csv.reader(io.StringIO(workload.to_csv(rows).decode("utf-8"))))
    assert parsed[0] == list(workload.CSV_COLUMNS)
    by_model = {r[4]: r for r in parsed[1:]}
    assert by_model["cheap"][1] == '\'=HYPERLINK("http://evil")'
    assert by_model["cheap"][5] == "0.003600"
    assert by_model["'@sum"][1] == "'+1" and by_model["'@sum"][5] == ""
    assert by_model["'@sum"][0] == "" and by_model["'@sum"][9].startswith("unpriced")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"cached_share": Decimal("1.1")},
        {"cached_share": "NaN"},
        {"requests_per_month": True},
    ],
)
def test_a_bad_workload_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        workload.Workload(**kwargs)


def test_the_calculator_charges_what_the_model_carries() -> None:
    assert workload.prices_of(cap("gpt-4o", prices=CHEAP)) is CHEAP
    assert workload.prices_of(cap("gpt-4o")) is None
    rows = workload.monthly_costs(
        [cap("a", prices=CHEAP), cap("b")], workload.Workload(1000, 100, Decimal(0), 10)
    )
    assert [r.model.model for r in rows] == ["a", "b"]
    assert rows[0].cost.total == Decimal("0.012") and not rows[1].cost.priced


# --- Context windows, unknown features and the quality floor ----------------------------------


def test_a_request_larger_than_the_context_window_is_left_out_or_flagged() -> None:
    from tests.test_ranking import Rating

    small = cap("small", price="1", context=128_000)
    big = cap("big", price="2", context=1_000_000)
    unknown = cap("in-house", price="0.05", features="", features_known=False)
    load = workload.Workload(input_tokens=200_000, output_tokens=500)
    kept, left = workload.eligible([small, big, unknown], load, task="chat")
    assert [m.model for m in kept] == ["big", "in-house"]
    assert left == {workload.OVER_CONTEXT: 1}
    assert workload.left_out_text(left) == "1 with a context window smaller than one request"
    kept, left = workload.eligible(
        [small, big, unknown], load, task="chat", include_over_context=True, include_unknown=False
    )
    assert [m.model for m in kept] == ["small", "big"] and left == {workload.UNKNOWN: 1}
    rows = workload.monthly_costs(kept, load)
    note = next(r.note for r in rows if r.model.model == "small")
    assert "a request of 200,500 tokens exceeds its 128,000-token context window" in note
    rated = cap("rated", price="3", rating=Rating(1420.0, 1410.0, 1430.0))
    low = cap("low", price="1", rating=Rating(1250.0, 1240.0, 1260.0))
    kept, left = workload.eligible([rated, low, big], workload.Workload(), quality_floor=1300)
    assert [m.model for m in kept] == ["rated"]
    assert left == {workload.BELOW_FLOOR: 1, workload.NOT_RATED: 1}
    with pytest.raises(ValidationError, match="quality floor"):
        workload.eligible([], load, quality_floor=-5)
