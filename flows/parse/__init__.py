"""Parsing: event and label schemas, the parser and the parse step."""
