"""Offline evaluation, not part of the running job: the drift-detection harness and
the accuracy plot."""
