"""Features: per-entity windows in event time (numbers and text categories), a team's
feature function, the feature set and its step."""
