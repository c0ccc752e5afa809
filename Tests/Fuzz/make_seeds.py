#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (Tests/Fuzz/corpus/*).

Run it again only to change the seeds; the files it writes are committed.
Everything is made up here: no record of anyone."""
import json, os, struct, uuid

here = os.path.dirname(os.path.abspath(__file__))

def write(kind, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(here, "corpus", kind, name), "wb") as f:
        f.write(data)

# --- HTTP request heads
heads = {
    "get-healthz": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "post-body": "POST /v1/services?limit=10&after=x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
    "http10-keepalive": "GET /v1/clients/%41b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "expect-continue": "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    "te-cl": "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    "cl-list": "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 4\r\n\r\nabcd",
    "absolute-form": "GET http://example.invalid/v1/status?x=%20+y HTTP/1.1\r\nHost: example.invalid\r\n\r\n",
    "bare-lf": "DELETE /v1/a/b HTTP/1.1\nHost: h\nAuthorization: Bearer abc\n\n",
    "h2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "pipelined": "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
}
for name, text in heads.items():
    write("http", name, text)

# --- JSON documents
docs = {
    "record": {"id": "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5", "nameFi": "Kurssi \u00e4", "capacity": 20,
               "municipalities": [598, 893], "active": True, "note": None},
    "pull": {"node": "kronoby", "protocol": 3, "schema": 9, "versionVector": {"jakobstad": 3}, "since": 0,
             "limit": 1000, "heads": {}, "clock": 1764547200000},
    "numbers": [0, -0, 1.5, -2e-7, 1e300, 123456789012345678, 0.1],
}
for name, doc in docs.items():
    write("json", name, json.dumps(doc, ensure_ascii=False))
write("json", "escapes", '["\\u00e4\\ud83d\\ude00\\n\\t\\"\\\\\\/", "\\u0000"]')
write("json", "nested", "[" * 40 + "{}" + "]" * 40)
write("json", "empty-containers", ' { "a" : [ ] , "b" : { } } ')

# --- config files
base = {"node": "jakobstad", "listen": {"host": "127.0.0.1", "port": 7101}, "dataDirectory": "data",
        "secretsFile": "secrets/jakobstad.json", "regionManifest": "region.json", "keyFile": "keys/jakobstad.key"}
full = dict(base)
full.update({
    "peers": [{"node": "nykarleby", "url": "http://127.0.0.1:7102", "mode": "pull"},
              {"node": "kronoby", "mode": "passive"}, {"node": "larsmo", "url": "https://l.example/", "mode": "push"}],
    "sync": {"intervalSeconds": 10, "batchSize": 1000, "maxClockAheadSeconds": 300, "backoffInitialSeconds": 0.5,
             "backoffMaxSeconds": 10, "connectTimeoutSeconds": 3, "requestTimeoutSeconds": 30},
    "durability": "full", "shutdownGraceSeconds": 5,
    "limits": {"maxHeaderBytes": 16384, "maxHeaderCount": 100, "maxBodyBytes": 4194304, "idleTimeoutSeconds": 60,
               "readTimeoutSeconds": 30, "writeTimeoutSeconds": 30, "maxConnections": 256},
    "tls": {"caBundle": "ca.pem", "clientCertificate": "c.pem", "clientKey": "c.key"},
    "demoSeed": 2026,
    "reports": {"regionPlacementTarget": 100, "placementTargets": {"598": 40, "440": 10}, "dueSoonDays": 30},
    "accessLog": {"retentionYears": 5},
})
write("config", "minimal", json.dumps(base))
write("config", "full", json.dumps(full, indent=1))
demo = os.path.join(here, "..", "..", "Config", "demo", "larsmo.json")
if os.path.exists(demo):
    write("config", "demo-larsmo", open(demo, "rb").read())

# --- wire batches (format 3, see Sources/KotoCore/WireFormat.swift)
def uint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)

def s(text):
    b = text.encode()
    return uint(len(b)) + b

def zigzag(d):
    return uint(((d << 1) ^ (d >> 63)) & 0xFFFFFFFFFFFFFFFF)

# Field indexes in RecordKind.fields order (services), as the schema lists them.
SERVICE_FIELDS = ["nameFi", "nameSv", "providerName", "providerType", "category", "municipalities", "languages",
                  "studyPath", "capacity", "startDate", "endDate", "contact", "status", "deleted"]

def change(origins, origin, seq, fields, kind=1, record=1, signed=False, steps=None):
    """One change; `steps` carries the previous seq per origin and the previous HLC across a batch."""
    steps = steps if steps is not None else {}
    index = origins.index(origin)
    hlc = 1764547200000 << 16
    out = uint(index) + zigzag(seq - steps.get(origin, 0)) + zigzag(hlc - steps.get("hlc", 0))
    steps[origin] = seq
    steps["hlc"] = hlc
    out += bytes([record]) + uuid.UUID(int=seq).bytes + bytes([kind | ((2 if signed else 0) << 4)])
    out += uint(len(fields))
    for name, value in fields:
        out += uint(SERVICE_FIELDS.index(name))
        if value is None:
            out += b"\x00"
        elif isinstance(value, bool):
            out += b"\x04" if value else b"\x03"
        elif isinstance(value, int):
            out += b"\x02" + uint((value << 1) ^ (value >> 63) & 0xFFFFFFFFFFFFFFFF)
        else:
            out += b"\x01" + s(value)
    out += uint(0)  # row clock: only its own entry, which the dot gives
    out += bytes(range(32))
    if signed:
        out += bytes(64)
    return out

def batch(origins, changes, heads):
    out = b"KSYB" + bytes([3]) + s("incarnation-1") + uint(7) + uint(1764547200000) + bytes(32) + b"\x00"
    out += uint(len(origins)) + b"".join(s(o) for o in origins)
    out += uint(len(heads))
    for origin, seq in heads:
        out += uint(origins.index(origin)) + uint(seq) + bytes(32)
    out += uint(len(changes)) + b"".join(changes)
    return out

service = [("nameFi", "Testikurssi"), ("capacity", 20), ("status", "active")]
write("wire", "empty", batch([], [], []))
write("wire", "one-change", batch(["kronoby"], [change(["kronoby"], "kronoby", 1, service)], [("kronoby", 1)]))
steps = {}
two = ["kronoby", "larsmo"]
write("wire", "two-signed", batch(two, [change(two, "larsmo", 1, service, signed=True, steps=steps),
                                        change(two, "larsmo", 2, [("capacity", None)], kind=2, signed=True, steps=steps)],
                                   [("kronoby", 4), ("larsmo", 2)]))
write("wire", "erase", batch(["jakobstad"], [change(["jakobstad"], "jakobstad", 3, [], kind=3, record=2)], [("jakobstad", 3)]))
write("wire", "clock", uint(2) + s("jakobstad") + uint(5) + s("kronoby") + uint(1))
