"""Scoring: the model catalog, one model shard (predict, learn, metrics), delayed
labels, the challenger, the model store and the scoring step."""
