"""The usage ledger (events, ingest formats, rollups, repricing, budgets) goes here; nothing yet."""
