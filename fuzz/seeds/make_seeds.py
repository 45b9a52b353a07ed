"""Writes the binary seed inputs of forewarn's fuzz targets (fuzz/seeds/<target>/), in the input
layouts the targets read. Shapes from tests/it/*.rs and the src unit tests; the config seeds are
TOML files kept by hand. Run from anywhere: python3 fuzz/seeds/make_seeds.py"""
import math, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')  # the fuzz/ folder

def head(n, major, arg):
    if arg < 24: return bytes([major << 5 | arg])
    for add, fmt in ((24, '>B'), (25, '>H'), (26, '>I'), (27, '>Q')):
        if arg < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | add]) + struct.pack(fmt, arg)

def cbor(v, compact=True):
    if v is None: return b'\xf6'
    if v is True: return b'\xf5'
    if v is False: return b'\xf4'
    if isinstance(v, int):
        return head(0, 0, v) if v >= 0 else head(0, 1, -1 - v)
    if isinstance(v, float):
        # Like serde_cbor: the shortest of f16/f32/f64 that keeps the value.
        if compact:
            try:
                if math.isnan(v) or struct.unpack('>e', struct.pack('>e', v))[0] == v:
                    return b'\xf9' + struct.pack('>e', v)
            except OverflowError:
                pass
            if struct.unpack('>f', struct.pack('>f', v))[0] == v:
                return b'\xfa' + struct.pack('>f', v)
        return b'\xfb' + struct.pack('>d', v)
    if isinstance(v, str):
        b = v.encode(); return head(0, 3, len(b)) + b
    if isinstance(v, bytes): return head(0, 2, len(v)) + v
    if isinstance(v, list): return head(0, 4, len(v)) + b''.join(cbor(x, compact) for x in v)
    if isinstance(v, dict):
        return head(0, 5, len(v)) + b''.join(cbor(k, compact) + cbor(x, compact) for k, x in v.items())
    raise TypeError(v)

def write(target, name, data):
    d = os.path.join(ROOT, 'seeds', target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f: f.write(data)

T0 = 1767600000  # 2026-01-05T08:00:00Z

# mqtt_payload: [topic selector, source | 4 = also as CBOR] + payload.
# topics: 0 plant/pump-1, 1 plant/fan-2, 2 tags/pump-1/temp, 3 tags/fan-2/rpm,
#         4 site/north/fan-2/temp, 5 raw/pump-1, 6 plant/pump-9/extra, 7 = first line of input
# sources: 0 plant/{asset} (ts auto), 1 tags/{asset}/{signal} (ms), 2 site/+/{asset}/{signal}
#          (field time, rfc3339, max 256 B), 3 raw/{asset} (field t, ns)
m = lambda name, t, s, p: write('mqtt_payload', name, bytes([t, s]) + p)
m('object-json', 0, 4, b'{"ts": %d, "temp": 20.0, "vib": 0.5}' % (T0 * 1000))
m('batch-json', 0, 4, b'[{"ts": %d.25, "temp": 22}, {"ts": "2026-01-05T08:00:00.5Z", "temp": "24"}, {"ts": 3, "pressure": 1}]' % T0)
m('asset-override', 0, 4, b'{"ts": %d, "asset": "fan-2", "rpm": 1450, "temp": true}' % T0)
m('object-cbor', 0, 0, cbor({'ts': T0, 'temp': 40.0, 'vib': 0.25}))
m('batch-cbor', 1, 0, cbor([{'ts': T0 * 1000 + 5, 'rpm': 1450.5}, {'temp': float('nan')}, {'rpm': float('inf')}]))
m('bare-number', 2, 1, b'0.7')
m('value-object', 3, 5, b'{"value": 1450, "ts": %d123}' % T0)
m('value-cbor-f64', 3, 1, cbor({'value': 1450.25, 'ts': T0 * 1000}, compact=False))
m('rfc3339', 4, 6, b'{"time": "2026-01-05T09:00:00+01:00", "value": "31.5"}')
m('nanos', 5, 7, b'{"t": %d000000000, "temp": -4.5e1, "vib": null}' % T0)
m('topic-from-input', 7, 0, b'plant/pump-1\n{"ts": "yesterday", "temp": "hot"}')
m('not-json', 0, 0, b'not json at all')
m('unknown-topic', 6, 0, b'{}')

# serial_line: [frame limit: 0 csv 64 B, 1 json 1024 B, 2 kv 128 B; chunk seed (2 bytes)] + stream.
s = lambda name, lim, stream: write('serial_line', name, bytes([lim, 0x5a, 0xa5]) + stream)
s('csv', 0, b'%d000,20,x,0.1\r\n%d500,30,y,0.2\n\xff\xfe\x00garbage\n' % (T0, T0)
  + b'9' * 200 + b'\n%d000,40,z,0.3\n2026-01-05T08:00:01Z,NaN,_,abc\n1,2,3\n' % (T0 + 1))
s('json', 1, b'{"ts": %d, "temp": 40, "vib": 1}\n{"asset": "fan-2", "rpm": "1450", "ts": "2026-01-05T08:00:00Z"}\n[1,2]\n\n{"temp": 1e999}\n' % T0)
s('kv', 2, b'ts=%d;rpm=1450 temp=41.5\r\nasset=pump-1,vib=0.5\ttemp=-3\ntemp 41\nts=yesterday rpm=1\n=5\n' % T0)

# cbor_record: outbox records as the outbox stores them (CBOR of Record, tagged by `kind`),
# and MQTT-style CBOR documents for cbor_to_json.
meta = {'line': 'line-3', 'type': 'centrifugal-pump', 'tags': {'area': 'north'}}
telemetry = {'kind': 'telemetry', 'schema': 'forewarn.telemetry.v1', 'gateway': 'gw', 'site': 's',
             'asset': 'pump-1', 'signal': 'temp', 'unit': 'degC', 'start_ns': T0 * 10**9,
             'end_ns': (T0 + 60) * 10**9, 'count': 59, 'min': 1394.75, 'max': 1406.22,
             'mean': 1400.586, 'last': 1403.51, 'meta': meta}
alert = {'kind': 'alert', 'schema': 'forewarn.alert.v1',
         'id': 'demo-gw/engine-1/T50-high/%d' % (T0 * 10**9), 'event': 'raised', 'gateway': 'demo-gw',
         'site': 'demo-site', 'asset': 'engine-1', 'rule': 'T50-high', 'severity': 'warning',
         'signal': 'T50', 'value': 1422.73, 'limit': 1420.0, 'ts_ns': T0 * 10**9 + 180,
         'since_ns': T0 * 10**9, 'meta': {}}
cleared = dict(alert, event='cleared', severity='critical', value=float('nan'), limit=float('-inf'))
status = {'kind': 'status', 'schema': 'forewarn.status.v1', 'gateway': 'gw', 'site': 's',
          'version': '0.1.0', 'ts_ns': T0 * 10**9, 'uptime_secs': 12.5,
          'sources': {'plant': {'connected': True, 'received': 10, 'samples': 18,
                                'rejected': {'malformed': 1, 'unknown_topic': 2}, 'reconnects': 0}},
          'outbox': {'alert': {'depth': 0, 'bytes': 0, 'evicted': 0},
                     'telemetry': {'depth': 3, 'bytes': 900, 'oldest_age_secs': 1.5, 'evicted': 2}},
          'outbox_budget_bytes': 16777216, 'outbox_write_lost': 0, 'pipeline_drops': {'late': 1},
          'delivered': 42, 'last_delivery_ns': T0 * 10**9, 'delivery_errors': 1,
          'last_delivery_error': 'broker down'}
c = lambda name, data: write('cbor_record', name, data)
c('telemetry', cbor(telemetry))
c('alert-raised', cbor(alert))
c('alert-cleared-nonfinite', cbor(cleared))
c('status', cbor(status))
c('telemetry-f64', cbor(telemetry, compact=False))
c('mqtt-doc', cbor([{'ts': T0, 'temp': 41.5, 'big': 2**64 - 1, 'neg': -2**63}, 1.5, None, 'x']))

# model_package: [manifest length, u16 LE] + manifest.toml + model.onnx, from the test packages
# (tests/fixtures/models/: the real `level` model, the tree-ensemble bomb, an absurd hop).
# Not the `slow` or `bomb-fold` packages: those are for the verification child's time and
# memory limits, which a fuzz run does not have.
FIXTURES = os.path.join(ROOT, '..', 'tests', 'fixtures', 'models')

def package(name, manifest, onnx):
    write('model_package', name, struct.pack('<H', len(manifest)) + manifest + onnx)

def read(*parts):
    with open(os.path.join(FIXTURES, *parts), 'rb') as f: return f.read()

level_manifest, level_onnx = read('level', 'manifest.toml'), read('level', 'model.onnx')
package('level', level_manifest, level_onnx)
package('bomb-trees', read('hostile', 'bomb-trees', 'manifest.toml'),
        read('hostile', 'bomb-trees', 'model.onnx'))
package('hop-1ns', level_manifest.replace(
    b'window = { samples = 4, hop = 4, sample_rate_hz = 1.0 }',
    b'window = { secs = 4.0, hop_secs = 1e-9, sample_rate_hz = 1.0 }'), level_onnx)
