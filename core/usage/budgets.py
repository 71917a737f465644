"""Budgets: spending limits in USD over a provider, one model of a provider, a user or a tag
value, per calendar month (in MODELDESK_TIMEZONE) or per rolling N days.

Admins create, edit and delete them (each change audited); everyone reads the budgets over
what they may see (``visible_clause``):

    admin    every budget
    member   budgets of their own username, and provider/model budgets of a provider they
             see (owner, instance-wide or granted: its usage is theirs to see, as on the
             Costs page); never tag budgets, whose rollups add up everyone's usage

Status, forecasts and alerts are in ``core.usage.budget_status``. Budgets are a Modeldesk
view: Modeldesk is not in the request path and stops nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from core.accounts import audit
from core.accounts.access import require_admin, visible_clause
from core.accounts.viewer import Actor
from core.catalog import lookalikes
from core.errors import IntegrityError, NotFoundError, ValidationError
from core.store.tables import Provider
from core.store.usage_tables import BUDGET_SCOPES, BUDGET_WINDOWS, Budget
from core.usage.inputs import MODEL_ID_MAX, TAG_KEY, TAG_VALUE_MAX, USERNAME_MAX, has_control
from core.validation import Problems, clean_name, name_key

DEFAULT_THRESHOLDS = (80, 100)
AMOUNT_MAX = Decimal(10) ** 11  # far above any real monthly spend; inside NUMERIC(20, 8)
WINDOW_DAYS_MAX = 366
THRESHOLD_MAX = 1000  # percent; a threshold may sit above the limit (e.g. 150 %)
THRESHOLDS_MAX = 10
_FIELDS = ("provider", "model_id", "username", "tag")
_NEEDS: dict[str, tuple[str, ...]] = {  # the target fields each scope takes
    "provider": ("provider",),
    "model": ("provider", "model_id"),
    "user": ("username",),
    "tag": ("tag",),
}


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError("The amount must be a number of dollars.", field="amount_usd")
    try:
        amount = (
            Decimal(value) if isinstance(value, (Decimal, int)) else Decimal(str(value).strip())
        )
    except (InvalidOperation, ValueError):
        raise ValidationError(
            "The amount must be a number of dollars, like 250 or 99.50.", field="amount_usd"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("The amount must be more than $0.", field="amount_usd")
    if amount > AMOUNT_MAX:
        raise ValidationError(
            f"The amount is implausibly large (over ${AMOUNT_MAX:,}).", field="amount_usd"
        )
    if amount != amount.quantize(Decimal("0.00000001")):
        raise ValidationError("The amount has more than 8 decimal places.", field="amount_usd")
    return amount


def _thresholds(value: Any) -> list[int]:
    if value is None:
        return list(DEFAULT_THRESHOLDS)
    items = value.split(",") if isinstance(value, str) else list(value)
    found: list[int] = []
    for item in items:
        text = str(item).strip().removesuffix("%").strip()
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= THRESHOLD_MAX:
            raise ValidationError(
                f"Each threshold is a whole percent from 1 to {THRESHOLD_MAX}, not {str(item)!r}.",
                field="thresholds",
            )
        found.append(int(text))
    if not found:
        raise ValidationError("Give at least one threshold, like 80,100.", field="thresholds")
    if len(found) > THRESHOLDS_MAX or len(set(found)) != len(found):
        raise ValidationError(
            f"Give at most {THRESHOLDS_MAX} different thresholds.", field="thresholds"
        )
    return sorted(found)


def _window(window: Any, days: Any) -> tuple[str, int | None]:
    if window not in BUDGET_WINDOWS:
        raise ValidationError(
            f"The window is 'month' (the calendar month) or 'rolling' (the last N days), "
            f"not {str(window)!r}.",
            field="window",
        )
    if window == "month":
        if days is not None:
            raise ValidationError(
                "A monthly budget takes no number of days; use window 'rolling' for N days.",
                field="window_days",
            )
        return "month", None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= WINDOW_DAYS_MAX:
        raise ValidationError(
            f"A rolling budget needs its number of days, a whole number from 1 to "
            f"{WINDOW_DAYS_MAX}.",
            field="window_days",
        )
    return "rolling", days


def _text(value: Any, field: str, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"A {what} budget needs the {field.replace('_', ' ')}.", field=field)
    value = value.strip()
    if len(value) > limit or has_control(value):
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be 1 to {limit} characters without control "
            "characters (visible or not).",
            field=field,
        )
    return value


def _tag(value: Any) -> tuple[str, str]:
    key, sep, tag_value = str(value or "").partition("=")
    key, tag_value = key.strip(), tag_value.strip()
    if not sep or not TAG_KEY.fullmatch(key) or not tag_value or len(tag_value) > TAG_VALUE_MAX:
        raise ValidationError(
            "A tag budget needs its tag as key=value (a key of 1 to 64 letters, digits or "
            f"_.:/-, a value of 1 to {TAG_VALUE_MAX} characters), like team=search.",
            field="tag",
        )
    if has_control(tag_value):  # usage refuses such a tag: the budget could never match it
        raise ValidationError(
            "The tag value contains a control or invisible character.", field="tag"
        )
    return key, tag_value


def find_provider(session: Session, provider: str | uuid.UUID) -> Provider:
    """The provider record a budget names: by id, or by its name when one record has it."""
    if isinstance(provider, uuid.UUID):
        found = session.get(Provider, provider)
        if found is None:
            raise ValidationError("That provider no longer exists.", field="provider")
        return found
    records = list(session.scalars(select(Provider).where(Provider.name_key == name_key(provider))))
    if not records:
        raise ValidationError(f"No provider record is named {provider!r}.", field="provider")
    if len(records) > 1:
        raise ValidationError(
            f"{len(records)} provider records are named {provider!r} (different owners); "
            "rename one first.",
            field="provider",
        )
    return records[0]


def _target(session: Session, scope: str, given: dict[str, Any], problems: Problems) -> dict:
    """The target columns of a scope from the given fields (problems noted, not raised)."""
    extra = [f for f in _FIELDS if given.get(f) not in (None, "") and f not in _NEEDS[scope]]
    if extra:
        problems.add(
            ValidationError(
                f"A {scope} budget takes no {', '.join(f.replace('_', ' ') for f in extra)}.",
                field=extra[0],
            )
        )
    columns: dict[str, Any] = dict.fromkeys(
        ("provider_id", "model_id", "username", "tag_key", "tag_value")
    )
    if "provider" in _NEEDS[scope]:
        if given.get("provider") in (None, ""):
            problems.add(ValidationError(f"A {scope} budget needs its provider.", field="provider"))
        else:
            provider = problems.check(find_provider, session, given["provider"])
            columns["provider_id"] = provider.id if provider else None
    if scope == "model":
        columns["model_id"] = problems.check(
            _text, given.get("model_id"), "model_id", "model", MODEL_ID_MAX
        )
    if scope == "user":
        columns["username"] = problems.check(
            _text, given.get("username"), "username", "user", USERNAME_MAX
        )
    if scope == "tag":
        tag = problems.check(_tag, given.get("tag"))
        if tag:
            columns["tag_key"], columns["tag_value"] = tag
    return columns


def _validated(session: Session, spec: dict[str, Any], *, budget_id: uuid.UUID | None) -> dict:
    """Every column of a budget from the spec, or one ValidationError naming each problem."""
    problems = Problems()
    name = problems.check(clean_name, spec.get("name"), field="name")
    if name is not None:
        others = {
            n: k
            for i, n, k in session.execute(select(Budget.id, Budget.name, Budget.name_key))
            if i != budget_id
        }
        clash = next((n for n, k in others.items() if k == name_key(name)), None)
        alike = lookalikes.lookalike(name, others) if clash is None else None
        if clash is not None:
            problems.add(ValidationError(f"A budget named '{clash}' already exists.", field="name"))
        elif alike is not None:
            problems.add(
                ValidationError(
                    f"'{name}' looks the same as the budget '{alike}' (they differ only in "
                    "lookalike or invisible characters); choose a clearly different name.",
                    field="name",
                )
            )
    scope = spec.get("scope")
    columns: dict[str, Any] = {}
    if scope not in BUDGET_SCOPES:
        problems.add(
            ValidationError(
                f"The scope is one of {', '.join(BUDGET_SCOPES)}, not {str(scope)!r}.",
                field="scope",
            )
        )
    else:
        columns = _target(session, scope, spec, problems)
    amount = problems.check(_amount, spec.get("amount_usd"))
    window = problems.check(_window, spec.get("window", "month"), spec.get("window_days"))
    thresholds = problems.check(_thresholds, spec.get("thresholds"))
    problems.raise_any()
    assert name is not None and window is not None and thresholds is not None
    return {
        "name": name,
        "name_key": name_key(name),
        "scope": scope,
        **columns,
        "amount_usd": amount,
        "window_kind": window[0],
        "window_days": window[1],
        "thresholds": thresholds,
    }


def target_label(budget: Budget, provider_name: str | None = None) -> str:
    """What a budget covers, for people: 'provider OpenAI', 'model gpt-4o on OpenAI'."""
    provider = provider_name or "(deleted provider)"
    if budget.scope == "provider":
        return f"provider {provider}"
    if budget.scope == "model":
        return f"model {budget.model_id} on {provider}"
    if budget.scope == "user":
        return f"user {budget.username}"
    return f"tag {budget.tag_key}={budget.tag_value}"


def window_label(budget: Budget) -> str:
    """'calendar month' or 'last 30 days'."""
    if budget.window_kind == "month":
        return "calendar month"
    return f"last {budget.window_days} day{'s' if budget.window_days != 1 else ''}"


def snapshot(budget: Budget) -> dict[str, Any]:
    """The audited fields of a budget (money as exact text)."""
    return {
        "name": budget.name,
        "scope": budget.scope,
        "provider_id": str(budget.provider_id) if budget.provider_id else None,
        "model_id": budget.model_id,
        "username": budget.username,
        "tag": f"{budget.tag_key}={budget.tag_value}" if budget.scope == "tag" else None,
        "amount_usd": format(Decimal(budget.amount_usd).normalize(), "f"),
        "window": window_label(budget),
        "thresholds": list(budget.thresholds),
    }


def _flush(session: Session, name: str) -> None:
    """Flush; a name taken by a concurrent save is refused like any taken name."""
    try:
        session.flush()
    except sa_exc.IntegrityError:
        raise IntegrityError(f"A budget named '{name}' already exists.") from None


def create_budget(
    session: Session,
    *,
    actor: Actor,
    name: str,
    scope: str,
    amount_usd: Any,
    window: str = "month",
    window_days: int | None = None,
    thresholds: Sequence[int] | str | None = None,
    provider: str | uuid.UUID | None = None,
    model_id: str | None = None,
    username: str | None = None,
    tag: str | None = None,
) -> Budget:
    """Create a budget (admins only; audited); the caller commits."""
    require_admin(actor, "manage budgets")
    spec = {
        "name": name,
        "scope": scope,
        "amount_usd": amount_usd,
        "window": window,
        "window_days": window_days,
        "thresholds": thresholds,
        "provider": provider,
        "model_id": model_id,
        "username": username,
        "tag": tag,
    }
    budget = Budget(
        id=uuid.uuid4(), created_by_id=actor.id, **_validated(session, spec, budget_id=None)
    )
    session.add(budget)
    _flush(session, budget.name)
    audit.record(
        session, actor=actor, action="budget.create", record=budget, after=snapshot(budget)
    )
    return budget


def _spec_of(session: Session, budget: Budget) -> dict[str, Any]:
    provider = session.get(Provider, budget.provider_id) if budget.provider_id else None
    return {
        "name": budget.name,
        "scope": budget.scope,
        "amount_usd": budget.amount_usd,
        "window": budget.window_kind,
        "window_days": budget.window_days,
        "thresholds": list(budget.thresholds),
        "provider": provider.id if provider else None,
        "model_id": budget.model_id,
        "username": budget.username,
        "tag": f"{budget.tag_key}={budget.tag_value}" if budget.scope == "tag" else None,
    }


def update_budget(
    session: Session, *, actor: Actor, budget_id: uuid.UUID, **changes: Any
) -> Budget:
    """Change some of a budget's fields (the create_budget arguments; admins only;
    audited with what changed); the caller commits."""
    require_admin(actor, "manage budgets")
    budget = get_budget(session, viewer=actor, budget_id=budget_id)
    unknown = sorted(set(changes) - set(_spec_of(session, budget)))
    if unknown:
        raise ValidationError(f"A budget has no field {unknown[0]!r}.", field=unknown[0])
    spec = _spec_of(session, budget)
    if changes.get("scope", budget.scope) != budget.scope:  # a new scope: new target fields
        spec.update(dict.fromkeys(_FIELDS))
    if changes.get("window") == "month":
        spec["window_days"] = None
    spec.update(changes)
    before = snapshot(budget)
    for column, value in _validated(session, spec, budget_id=budget.id).items():
        setattr(budget, column, value)
    _flush(session, budget.name)
    old, new = audit.diff(before, snapshot(budget))
    if new:
        audit.record(
            session, actor=actor, action="budget.update", record=budget, before=old, after=new
        )
    return budget


def delete_budget(session: Session, *, actor: Actor, budget_id: uuid.UUID) -> None:
    """Delete a budget and its alerts (admins only; audited); the caller commits."""
    require_admin(actor, "manage budgets")
    budget = get_budget(session, viewer=actor, budget_id=budget_id)
    audit.record(
        session, actor=actor, action="budget.delete", record=budget, before=snapshot(budget)
    )
    session.delete(budget)
    session.flush()


def visible(viewer: Actor) -> ColumnElement[bool]:
    """SQL condition: the budget is one viewer may see (see the module's docstring)."""
    if viewer.is_admin:
        return Budget.id.is_not(None)
    if not viewer.active:
        return false()
    seen = select(Provider.id).where(visible_clause(Provider, viewer))
    return or_(
        and_(Budget.scope == "user", Budget.username == viewer.username),
        and_(Budget.scope.in_(("provider", "model")), Budget.provider_id.in_(seen)),
    )


def list_budgets(session: Session, *, viewer: Actor) -> list[Budget]:
    """The budgets viewer may see, by name."""
    return list(session.scalars(select(Budget).where(visible(viewer)).order_by(Budget.name_key)))


def get_budget(session: Session, *, viewer: Actor, budget_id: uuid.UUID) -> Budget:
    """One budget viewer may see, or NotFoundError."""
    budget = session.scalar(select(Budget).where(Budget.id == budget_id, visible(viewer)))
    if budget is None:
        raise NotFoundError("No such budget.")
    return budget


def find_budget(session: Session, *, viewer: Actor, name: str) -> Budget:
    """A budget viewer may see, by name (case-insensitive), or NotFoundError."""
    budget = session.scalar(
        select(Budget).where(Budget.name_key == name_key(name), visible(viewer))
    )
    if budget is None:
        raise NotFoundError(f"No budget is named {name!r}.")
    return budget
