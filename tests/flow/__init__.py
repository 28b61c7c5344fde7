"""flow tests."""
