"""kafka tests."""
