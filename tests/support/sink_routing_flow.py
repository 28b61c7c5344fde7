"""A tiny dataflow for tests/flow/test_sharding.py: where Kafka outputs are written.

Model shard keys go through a keyed step (where a shard is scored) and then to
a sink with `KafkaOutputs`' partitions and routing; both places print the
process (``$ROUTING_PROCESS``) they ran in.
"""

import os

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import StatefulSinkPartition
from bytewax.testing import TestingSource

from driftline.connectors.kafka import KafkaOutputs
from driftline.flows.config import KafkaConfig
from driftline.flows.outputs.encode import SinkItem
from driftline.flows.routing import shard_keys, worker_routes

WORKERS = int(os.environ["ROUTING_WORKERS"])
PROCESS = os.environ["ROUTING_PROCESS"]
KEYS = shard_keys(2 * WORKERS)
ROUTES = worker_routes(KEYS, WORKERS)


class _Printing(StatefulSinkPartition):
    def write_batch(self, values: list[SinkItem]) -> None:
        for item in values:
            print(f"written {item.payload.decode()}@{PROCESS}", flush=True)

    def snapshot(self) -> None:
        return None


class _Outputs(KafkaOutputs):
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Printing:
        return _Printing()


flow = Dataflow("sink_routing")
keys = op.input("keys", flow, TestingSource(KEYS))
keyed = op.key_on("key", keys, lambda k: k)
scored = op.stateful_map("score", keyed, lambda state, v: (state, v))
op.inspect("where", scored, lambda step, item: print(f"scored {item[0]}@{PROCESS}", flush=True))
routed = op.map(
    "route", scored, lambda kv: (ROUTES[kv[0]], SinkItem("predictions", None, kv[0].encode()))
)
op.output("out", routed, _Outputs(KafkaConfig()))
