"""Features: per-entity windows in event time, the feature set and its step."""
