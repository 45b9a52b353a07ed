#!/usr/bin/env python3
"""Read forewarn's Kafka topics the way a central data team would.

    python3 consume.py --bootstrap kafka:9092 [--group analytics] [--from-beginning]
                       [--property security.protocol=sasl_ssl ...] [--max-seconds N]

Subscribes to the alert, telemetry and status topics and prints one JSON line per record:

    {"topic": ..., "gateway": ..., "seq": ..., "schema": ..., "record": {...}}

What it does that every consumer of these topics should (README, "For consumers"):
- decodes by the `content-type` header: gateways with different `[kafka] encoding` write to
  the same topics (application/json or application/cbor);
- tells records apart by the `forewarn-schema` header (forewarn.telemetry.v1,
  forewarn.alert.v1, forewarn.status.v1, forewarn.baseline.v1; the status topic carries
  heartbeats and baselines);
- keeps `*_ns` times as integers (Python's int is exact; a double would round them);
- drops a record whose (forewarn-gateway, forewarn-seq) it has seen: delivery is at least
  once, so a record can come twice after a gateway restart;
- ignores fields it does not know: fields are added within a version.
"""

import argparse
import collections
import json
import sys
import time

import cbor2
from confluent_kafka import Consumer, KafkaError

TOPICS = ["forewarn.alerts", "forewarn.telemetry", "forewarn.status"]
KNOWN_SCHEMAS = {
    "forewarn.telemetry.v1",
    "forewarn.alert.v1",
    "forewarn.status.v1",
    "forewarn.baseline.v1",
}


class Seen:
    """The (gateway, seq) pairs seen lately, at most `limit` of them (oldest forgotten)."""

    def __init__(self, limit=1_000_000):
        self.limit = limit
        self.pairs = collections.OrderedDict()

    def first_time(self, gateway, seq):
        key = (gateway, seq)
        if key in self.pairs:
            return False
        self.pairs[key] = None
        if len(self.pairs) > self.limit:
            self.pairs.popitem(last=False)
        return True


def decode(payload, content_type):
    if content_type == "application/cbor":
        return cbor2.loads(payload)
    if content_type == "application/json":
        return json.loads(payload)
    raise ValueError(f"unknown content-type {content_type!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", default="forewarn-consumer-example")
    ap.add_argument("--topics", default=",".join(TOPICS))
    ap.add_argument("--from-beginning", action="store_true")
    ap.add_argument("--property", action="append", default=[], help="librdkafka key=value")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop after this (0: never)")
    args = ap.parse_args()

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.auto.commit": True,
    }
    for p in args.property:
        key, _, value = p.partition("=")
        config[key] = value
    consumer = Consumer(config)
    consumer.subscribe(args.topics.split(","))
    seen = Seen()
    counts = collections.Counter()
    end = time.monotonic() + args.max_seconds if args.max_seconds > 0 else None
    try:
        while end is None or time.monotonic() < end:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"consumer: {msg.error()}", file=sys.stderr)
                continue
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in msg.headers() or []}
            gateway = headers.get("forewarn-gateway")
            seq = int(headers.get("forewarn-seq", "0"))
            schema = headers.get("forewarn-schema", "")
            if schema not in KNOWN_SCHEMAS:
                counts["unknown_schema"] += 1
                continue
            if not seen.first_time(gateway, seq):
                counts["duplicate"] += 1
                continue
            try:
                record = decode(msg.value(), headers.get("content-type"))
            except ValueError as e:
                counts["undecodable"] += 1
                print(f"consumer: {msg.topic()} {gateway}/{seq}: {e}", file=sys.stderr)
                continue
            counts[schema] += 1
            print(json.dumps({"topic": msg.topic(), "gateway": gateway, "seq": seq,
                              "schema": schema, "content_type": headers.get("content-type"),
                              "record": record}), flush=True)
    finally:
        consumer.close()
        print(f"consumer: {dict(counts)}", file=sys.stderr)


if __name__ == "__main__":
    main()
