"""Test harness: the AppTest console, factories, fakes and loopback servers the tests share."""
