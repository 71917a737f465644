"""Modeldesk core: the data side of the console. Knows nothing about Streamlit."""

__version__ = "0.1.0"
