"""Outputs: encoding records for the sinks, and the Prometheus metrics."""
