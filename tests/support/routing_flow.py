"""A tiny dataflow for tests/flow/test_sharding.py: prints which worker each key lands on."""

import os

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

flow = Dataflow("routing")
keys = op.input("keys", flow, TestingSource(os.environ["ROUTING_KEYS"].split(",")))
keyed = op.key_on("key", keys, lambda k: k)
held = op.stateful_map("hold", keyed, lambda state, v: (state, v))
op.inspect_debug(
    "where", held, lambda step, item, epoch, worker: print(f"@{item[0]}={worker}", flush=True)
)
