"""Export of provider and model records as an import document, without secrets.

No API key is ever exported, nor a config value whose key looks secret (by name, or a
catalog field marked secret); on re-import such an omitted value keeps what is stored.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access
from core.accounts.viewer import Actor
from core.catalog import ProviderType
from core.config import Settings
from core.errors import ValidationError
from core.records.model_ratings import decode_features
from core.records.model_records import PRICE_FIELDS
from core.store import vault
from core.store.tables import ModelRecord, Provider, User


class ExportDocument(dict):
    """An exported document (a plain mapping) plus ``warnings`` about what was left out."""

    warnings: list[str]


def _public_config(
    session: Session,
    record: Provider | ModelRecord,
    column: str,
    ptype: ProviderType | None,
    what: str,
    warnings: list[str],
) -> dict[str, Any]:
    stored = vault.try_open_json(session, record, column)
    if stored.needs_reentry:
        warnings.append(
            f"{what} '{record.name}': its config cannot be decrypted and was left "
            "out; re-enter it after importing."
        )
    return catalog.public_config(stored.value, ptype)[0]


def price_text(value: Decimal | None) -> str | None:
    """A price as exact plain text ('2.5', not '2.50000000' or '2.5E+0'), or None."""
    return None if value is None else format(Decimal(value).normalize(), "f")


def export_document(
    session: Session, *, actor: Actor, settings: Settings | None = None
) -> ExportDocument:
    """The records actor may manage (admins: all) as an import document, without secrets."""
    del settings  # the same signature as plan_import; an export reads no environment
    owners = dict(session.execute(select(User.id, User.username)).all())
    everyone = list(
        session.scalars(
            select(Provider).order_by(Provider.priority, Provider.name_key, Provider.id)
        )
    )
    mine = [p for p in everyone if access.can_manage(actor, p)]
    warnings: list[str] = []
    out_providers = []
    for p in mine:
        try:
            ptype = catalog.get_provider_type(p.provider_type)
        except ValidationError:
            ptype = None
        entry: dict[str, Any] = {"name": p.name, "provider_type": p.provider_type}
        config = _public_config(session, p, "provider_config_enc", ptype, "provider", warnings)
        if config:
            entry["provider_config"] = config
        entry |= {
            "instance_wide": p.instance_wide,
            "status": p.status,
            "priority": p.priority,
            "owner": owners.get(p.owner_id),
        }
        out_providers.append(entry)
    # A bare provider name must resolve on import to the same record, else name the owner.
    in_doc, exported = Counter(p.name_key for p in mine), {p.id for p in mine}
    in_db = Counter(p.name_key for p in everyone)
    out_models = []
    for m, p in session.execute(
        select(ModelRecord, Provider)
        .join(Provider, ModelRecord.provider_id == Provider.id)
        .order_by(
            Provider.priority,
            Provider.name_key,
            Provider.id,
            ModelRecord.name,
            ModelRecord.model_id,
        )
    ):
        if not access.can_manage(actor, m):
            continue
        unique = (
            (in_doc[p.name_key] == 1 or p.owner_id == m.owner_id)
            if p.id in exported
            else (in_doc[p.name_key] == 0 and in_db[p.name_key] == 1)
        )
        entry = {
            "name": m.name,
            "model_id": m.model_id,
            "provider": p.name if unique else {"name": p.name, "owner": owners.get(p.owner_id)},
            "model_type": m.model_type,
        }
        config = _public_config(session, m, "model_config_enc", None, "model", warnings)
        if config:
            entry["model_config"] = config
        entry |= {"instance_wide": m.instance_wide, "status": m.status}
        entry |= {f: price_text(getattr(m, f)) for f in PRICE_FIELDS if getattr(m, f) is not None}
        if m.context_window is not None:
            entry["context_window"] = m.context_window
        if m.quality_tier is not None:
            entry["quality_tier"] = m.quality_tier
        if m.features:
            entry["features"] = list(decode_features(m.features) or ())
        entry["owner"] = owners.get(m.owner_id)
        out_models.append(entry)
    doc = ExportDocument(providers=out_providers, models=out_models)
    doc.warnings = warnings
    return doc
