"""Test support: the real test broker (Tansu) and tiny dataflows the routing tests run."""
