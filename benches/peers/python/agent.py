#!/usr/bin/env python3
"""Python peer of the load bench: the gateway agent a Python shop would write instead of forewarn.

MQTT in (paho-mqtt), Kafka out (confluent-kafka), and in between what benches/peers/README.md
asks of every consumer under test:

- every sample into a 1-s epoch-aligned event-time bucket per (asset, signal): count, min, max,
  mean, last. A bucket closes when a sample of a later bucket of the same signal arrives, or
  when 2 s of wall time passed after its end; a closed bucket is one message on
  `forewarn.telemetry`, key `{gateway}/{asset}`;
- the probe rule `lat-high` on `probe/lat` (> 50 raises, <= 50 clears), one message on
  `forewarn.alerts` per transition;
- the `bearing-fault` model package on each asset's `vib` samples: sample windows (the first
  when `samples` are in, then every `hop` new ones), features from models/train/features.py,
  the manifest's normalisation, onnxruntime, and the manifest's alert rules (k-of-n debounce,
  hysteresis) as streaming state per (asset, rule); their events go to `forewarn.alerts`.

The feature code, the normalisation and the rule score are the ones in models/train (the
reference twin of forewarn's Rust code), imported from there (--models-dir), not copied.

Input, as the bench publishes it (QoS 1):
- `bench/{asset}/{signal}`: {"ts": <µs since the epoch>, "value": <number>}
- `bench/{asset}`: [{"ts": <µs>, "<signal>": <number>, ...}, ...]
Malformed messages (or samples in a batch) are counted and skipped, never fatal.

Prints `READY` on stdout once the broker acknowledged the subscription; on SIGTERM/SIGINT
flushes the producer and exits 0 (open buckets are not sent).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
import time
import tomllib
from collections import Counter, deque
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from confluent_kafka import Producer

log = logging.getLogger("python-peer")

TELEMETRY_TOPIC = "forewarn.telemetry"
ALERTS_TOPIC = "forewarn.alerts"
TELEMETRY_SCHEMA = "forewarn.telemetry.v1"
ALERT_SCHEMA = "forewarn.alert.v1"

BUCKET_NS = 1_000_000_000  # 1-s buckets, aligned to the epoch
IDLE_CLOSE_NS = 2_000_000_000  # close a bucket 2 s of wall time after its end
SWEEP_EVERY_S = 0.25  # how often the idle buckets are looked for

# Threshold rules on raw samples: (asset, signal) -> (rule name, limit). Above the limit raises,
# at or below clears. The bench's latency probe is the only one.
THRESHOLD_RULES = {("probe", "lat"): ("lat-high", 50.0)}

# One compact JSON encoder for everything we produce.
dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class Malformed(ValueError):
    """A message or sample that does not have the expected shape."""


def sample_value(v) -> float:
    """A JSON number as a finite float (bool is not a number here)."""
    if type(v) is float:
        if math.isfinite(v):
            return v
    elif type(v) is int:
        return float(v)  # OverflowError for huge ints: caught as malformed
    raise Malformed(f"not a finite number: {v!r}")


def sample_ts_ns(obj: dict) -> int:
    """The `ts` field (epoch µs) of a sample object, in ns."""
    ts = obj["ts"]
    if type(ts) is int:
        return ts * 1000
    if type(ts) is float and math.isfinite(ts):
        return int(ts * 1000)
    raise Malformed(f"bad ts: {ts!r}")


# ---------------------------------------------------------------------------------------------
# Telemetry buckets


class Bucket:
    """One open 1-s bucket of one (asset, signal): [start_ns, start_ns + 1 s)."""

    __slots__ = ("start_ns", "count", "min", "max", "sum", "last", "last_ts")

    def __init__(self, start_ns: int, ts_ns: int, v: float):
        self.start_ns = start_ns
        self.count = 1
        self.min = self.max = self.sum = self.last = v
        self.last_ts = ts_ns

    def add(self, ts_ns: int, v: float) -> None:
        self.count += 1
        if v < self.min:
            self.min = v
        elif v > self.max:
            self.max = v
        self.sum += v
        if ts_ns >= self.last_ts:  # `last` is the latest in event time, not in arrival
            self.last = v
            self.last_ts = ts_ns


# ---------------------------------------------------------------------------------------------
# The model package


class ModelPackage:
    """A forewarn model package (manifest.toml + model.onnx) with one input signal and sample
    windows, evaluated with the models/train reference code."""

    def __init__(self, pkg_dir: Path, common):
        self.common = common
        with open(pkg_dir / "manifest.toml", "rb") as f:
            m = tomllib.load(f)
        self.name = m["model"]["name"]
        self.version = m["model"]["version"]
        inp = m["input"]
        if len(inp["signals"]) != 1:
            raise ValueError(f"{self.name}: only single-signal packages are supported")
        self.signal = inp["signals"][0]
        self.features = list(inp["features"])
        win = inp["window"]
        if "samples" not in win:
            raise ValueError(f"{self.name}: only sample windows (samples, hop) are supported")
        self.size = int(win["samples"])
        self.hop = int(win["hop"])
        self.rate_hz = float(win["sample_rate_hz"])
        norm = inp.get("normalize")
        self.norm = (None if norm is None else
                     (np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)))
        out = m["output"]
        self.output_name = out["name"]
        self.labels = out.get("labels")  # classes only
        self.normal = out.get("normal")
        self.rules = [
            common.AlertRule(
                name=a["name"], severity=a["severity"], direction=a["direction"],
                on=float(a["on"]), off=float(a["off"]),
                k=int(a.get("debounce", {}).get("k", 1)), n=int(a.get("debounce", {}).get("n", 1)),
                cls=a.get("class"))
            for a in m.get("alerts", [])
        ]
        onnx_path = pkg_dir / m["model"]["onnx"]
        if common.sha256_file(onnx_path) != m["model"]["sha256"]:
            raise ValueError(f"{onnx_path}: sha256 does not match the manifest")
        self.session = common.ort_session(onnx_path)

    def infer(self, window: np.ndarray) -> np.ndarray:
        """Model output (float32 vector) for one window of raw samples."""
        _, x = self.common.extract_f32(self.features, {self.signal: (window, self.rate_hz)})
        if self.norm is not None:
            x = self.common.normalize_f32(x, *self.norm)
        return self.common.ort_run(self.session, x, self.output_name)[0]

    def rule_signal(self, rule) -> str:
        """What an alert of `rule` is about: the class, `not-normal`, or the output name."""
        if self.labels is None:
            return self.output_name
        return rule.cls if rule.cls is not None else f"not-{self.normal}"


class RuleState:
    """Streaming state of one model alert rule on one asset (as src/model/rule.rs and
    models/train/common.py `run_alerts`): raised when k of the last n scores are past `on`,
    updated while raised when the score got worse by a tenth of |on - off|, cleared by one
    score past `off` (the debounce history then restarts)."""

    __slots__ = ("rule", "history", "reported")

    def __init__(self, rule):
        self.rule = rule
        self.history: deque = deque(maxlen=rule.n)
        self.reported = None  # score last reported while raised; None when not raised

    def observe(self, s: float):
        """Feed one window's score; returns "raised", "updated", "cleared" or None."""
        r = self.rule
        if not math.isfinite(s):
            return None
        above = r.direction == "above"
        if self.reported is None:
            self.history.append(s >= r.on if above else s <= r.on)
            if sum(self.history) >= r.k:
                self.reported = s
                return "raised"
            return None
        if (s < r.off) if above else (s > r.off):
            self.reported = None
            self.history.clear()
            return "cleared"
        worse = s - self.reported if above else self.reported - s
        if worse >= max(abs(r.on - r.off) / 10.0, sys.float_info.epsilon):
            self.reported = s
            return "updated"
        return None


class AssetWindow:
    """The last `size` samples of one asset's model signal, and its rule states."""

    __slots__ = ("samples", "seen", "rules")

    def __init__(self, pkg: ModelPackage):
        self.samples: deque = deque(maxlen=pkg.size)
        self.seen = 0  # samples pushed so far
        self.rules = [RuleState(r) for r in pkg.rules]


# ---------------------------------------------------------------------------------------------
# The agent


class Agent:
    def __init__(self, gateway: str, producer: Producer, model: ModelPackage):
        self.gateway = gateway
        self.producer = producer
        self.model = model
        # The MQTT network thread (messages) and the main thread (idle sweep) share the state.
        self.lock = threading.Lock()
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.thresholds: dict[tuple[str, str], bool] = {}  # raised or not, per threshold rule
        self.windows: dict[str, AssetWindow] = {}
        self.keys: dict[str, bytes] = {}  # Kafka key per asset, `{gateway}/{asset}`
        self.stats: Counter = Counter()
        self.closing = False  # set on SIGTERM: stop waiting for room in the producer queue

    # -- Kafka --------------------------------------------------------------------------------

    def produce(self, topic: str, asset: str, record: dict) -> None:
        key = self.keys.get(asset)
        if key is None:
            key = self.keys[asset] = f"{self.gateway}/{asset}".encode()
        value = dumps(record).encode()
        while True:
            try:
                self.producer.produce(topic, value, key)
                break
            except BufferError:  # local queue full: let librdkafka drain it, then retry
                if self.closing:
                    self.stats["dropped_at_exit"] += 1
                    return
                self.producer.poll(0.05)
        self.producer.poll(0)  # serve delivery reports (errors only, see main)
        self.stats[topic] += 1

    def emit_bucket(self, asset: str, sig: str, b: Bucket) -> None:
        self.produce(TELEMETRY_TOPIC, asset, {
            "schema": TELEMETRY_SCHEMA, "gateway": self.gateway, "asset": asset, "signal": sig,
            "start_ns": b.start_ns, "end_ns": b.start_ns + BUCKET_NS, "count": b.count,
            "min": b.min, "max": b.max, "mean": b.sum / b.count, "last": b.last,
        })

    # -- MQTT ---------------------------------------------------------------------------------

    def on_message(self, client, userdata, msg) -> None:
        # paho's network thread: an exception here would end it, so none may escape.
        try:
            self.handle(msg.topic, msg.payload)
        except Exception:  # noqa: BLE001
            self.stats["errors"] += 1
            if self.stats["errors"] <= 3:
                log.exception("message on %s", msg.topic)

    def handle(self, topic: str, raw: bytes) -> None:
        self.stats["messages"] += 1
        parts = topic.split("/")
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurdly nested
            self.stats["malformed"] += 1
            return
        with self.lock:
            if len(parts) == 3 and parts[1] and parts[2]:
                # bench/{asset}/{signal}: one sample
                try:
                    if type(payload) is not dict:
                        raise Malformed("not an object")
                    ts_ns, v = sample_ts_ns(payload), sample_value(payload["value"])
                except (Malformed, KeyError, OverflowError):
                    self.stats["malformed"] += 1
                    return
                self.sample(parts[1], parts[2], ts_ns, v)
            elif len(parts) == 2 and parts[1] and type(payload) is list:
                # bench/{asset}: a batch of {"ts": …, signal: value, …}
                asset = parts[1]
                for obj in payload:
                    try:
                        if type(obj) is not dict:
                            raise Malformed("not an object")
                        ts_ns = sample_ts_ns(obj)
                    except (Malformed, KeyError, OverflowError):
                        self.stats["malformed"] += 1
                        continue
                    for sig, val in obj.items():
                        if sig == "ts":
                            continue
                        try:
                            v = sample_value(val)
                        except (Malformed, OverflowError):
                            self.stats["malformed"] += 1
                            continue
                        self.sample(asset, sig, ts_ns, v)
            else:
                self.stats["malformed"] += 1

    # -- Per sample ---------------------------------------------------------------------------

    def sample(self, asset: str, sig: str, ts_ns: int, v: float) -> None:
        self.stats["samples"] += 1
        key = (asset, sig)

        # Telemetry bucket.
        start = ts_ns - ts_ns % BUCKET_NS
        b = self.buckets.get(key)
        if b is None:
            self.buckets[key] = Bucket(start, ts_ns, v)
        elif start == b.start_ns:
            b.add(ts_ns, v)
        elif start > b.start_ns:
            self.emit_bucket(asset, sig, b)
            self.buckets[key] = Bucket(start, ts_ns, v)
        else:
            # Older than the open bucket: its bucket was sent already. Dropped from telemetry
            # (rules and the model still see it).
            self.stats["late"] += 1

        # Threshold rule (the latency probe).
        rule = THRESHOLD_RULES.get(key)
        if rule is not None:
            self.threshold(asset, sig, rule, ts_ns, v)

        # Model signal.
        if sig == self.model.signal:
            self.model_sample(asset, ts_ns, v)

    def threshold(self, asset: str, sig: str, rule: tuple[str, float], ts_ns: int, v: float) -> None:
        name, limit = rule
        was = self.thresholds.get((asset, sig), False)
        now = v > limit
        if now != was:
            self.thresholds[(asset, sig)] = now
            self.produce(ALERTS_TOPIC, asset, {
                "schema": ALERT_SCHEMA, "event": "raised" if now else "cleared",
                "gateway": self.gateway, "asset": asset, "rule": name, "signal": sig,
                "value": v, "ts_ns": ts_ns,
            })

    def model_sample(self, asset: str, ts_ns: int, v: float) -> None:
        w = self.windows.get(asset)
        if w is None:
            w = self.windows[asset] = AssetWindow(self.model)
        w.samples.append(v)
        w.seen += 1
        m = self.model
        if w.seen < m.size or (w.seen - m.size) % m.hop:
            return
        # A window is due: the last `size` samples, ending at this sample's event time.
        self.stats["windows"] += 1
        try:
            output = m.infer(np.fromiter(w.samples, dtype=np.float64, count=m.size))
        except Exception:  # noqa: BLE001 - a failing window must not stop the agent
            self.stats["model_errors"] += 1
            if self.stats["model_errors"] <= 3:
                log.exception("model %s on asset %s failed", m.name, asset)
            return
        for state in w.rules:
            r = state.rule
            score = m.common.rule_score(r, output, m.labels, m.normal)
            event = state.observe(score)
            if event is None:
                continue
            self.produce(ALERTS_TOPIC, asset, {
                "schema": ALERT_SCHEMA, "event": event, "gateway": self.gateway,
                "asset": asset, "rule": r.name, "severity": r.severity,
                "signal": m.rule_signal(r), "value": score,
                "limit": r.off if event == "cleared" else r.on, "ts_ns": ts_ns,
            })

    # -- Idle buckets ---------------------------------------------------------------------------

    def sweep(self) -> None:
        """Close the buckets whose end is 2 s of wall time in the past."""
        deadline = time.time_ns() - IDLE_CLOSE_NS - BUCKET_NS  # start_ns + 1 s + 2 s <= now
        with self.lock:
            idle = [k for k, b in self.buckets.items() if b.start_ns <= deadline]
            for key in idle:
                self.emit_bucket(key[0], key[1], self.buckets.pop(key))
        self.producer.poll(0)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--kafka", required=True, help="bootstrap servers, host:port[,host:port]")
    p.add_argument("--gateway", default="bench-gw")
    p.add_argument("--models-dir", type=Path, required=True,
                   help="the repository's models/ directory (bearing-fault/ and train/ in it)")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s python-peer %(levelname)s %(message)s")

    # The reference feature code and rule helpers (models/train/common.py, features.py).
    models_dir = args.models_dir.resolve()
    sys.path.insert(0, str(models_dir / "train"))
    import common  # noqa: E402

    model = ModelPackage(models_dir / "bearing-fault", common)
    log.info("model %s %s: %d features, window %d hop %d, %d alert rules", model.name,
             model.version, len(model.features), model.size, model.hop, len(model.rules))

    delivery_errors = Counter()

    def delivery_failed(err, msg):  # called from producer.poll/flush, errors only
        delivery_errors[str(err)] += 1
        if sum(delivery_errors.values()) <= 5:
            log.error("delivery to %s failed: %s", msg.topic(), err)

    producer = Producer({
        "bootstrap.servers": args.kafka,
        "client.id": f"{args.gateway}-python-peer",
        "acks": "all",
        "delivery.report.only.error": True,
        "on_delivery": delivery_failed,
    })
    agent = Agent(args.gateway, producer, model)

    stop = threading.Event()
    ready = threading.Event()
    refused = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        log.info("MQTT connected to %s:%d", args.mqtt_host, args.mqtt_port)
        client.subscribe("bench/#", qos=1)  # again after each reconnect (clean session)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription refused: %s", reason_codes)
            refused.set()
            stop.set()
        elif not ready.is_set():
            ready.set()
            print("READY", flush=True)

    def on_disconnect(client, userdata, flags, reason_code, properties):
        if not stop.is_set():
            log.warning("MQTT disconnected (%s), reconnecting", reason_code)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{args.gateway}-python-peer",
                         clean_session=True, protocol=mqtt.MQTTv311)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_disconnect = on_disconnect
    client.on_message = agent.on_message
    client.reconnect_delay_set(min_delay=1, max_delay=5)

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # The network thread connects (retrying until the broker answers), reads and acks messages
    # and runs on_message; this thread closes idle buckets.
    client.connect_async(args.mqtt_host, args.mqtt_port, keepalive=30)
    client.loop_start()
    while not stop.wait(SWEEP_EVERY_S):
        agent.sweep()

    agent.closing = True
    client.disconnect()
    client.loop_stop()
    left = producer.flush(30)
    log.info("stopped: %s; delivery errors %s; %d not delivered at exit",
             dict(agent.stats), dict(delivery_errors) or 0, left)
    return 1 if refused.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
