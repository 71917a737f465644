"""The console's own records, as keyword-only services over a Session: providers, system
providers, model records, their ratings and speed samples, import and export."""
