"""A store reader written from the README's "Store layout (Redis)" section alone, in another language
than the project, with the standard library only (a minimal RESP client), so CI needs nothing beyond
python3. python-reader.test.ts runs it against vectors the project's writer stored; a mismatch means the
documented layout and the code disagree.

Usage: layout-reader.py lookup <redis-url> <prefix>   (stdin: {"entity", "ids", "version"?})
       layout-reader.py watch <redis-url> <prefix>    (prints "subscribed", then the first flip message
                                                       and the pointer re-read after it)
Output: one JSON object per line on stdout.
"""

import json
import socket
import struct
import sys
from urllib.parse import urlparse


class Resp:
    """Just enough of RESP2 for HGETALL, HMGET, HGET, SUBSCRIBE, pipelined."""

    def __init__(self, url):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=30)
        self.file = self.sock.makefile("rb")
        if parsed.password is not None:
            self.call("AUTH", *([parsed.username] if parsed.username else []), parsed.password)
        if parsed.path.strip("/"):
            self.call("SELECT", parsed.path.strip("/"))

    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))

    def reply(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size == -1:
                return None
            data = self.file.read(size + 2)[:-2]
            return data
        if kind == b"*":
            count = int(rest)
            return None if count == -1 else [self.reply() for _ in range(count)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def pipeline(self, commands):
        # Every command first, then every reply: one round trip.
        for command in commands:
            self.send(*command)
        return [self.reply() for _ in commands]


def fnv1a32(text):
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def as_dict(flat):
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def decode_payload(payload):
    newline = payload.index(b"\n")
    header = payload[:newline].decode("ascii").split(" ")
    if len(header) != 4 or header[0] != "J1":
        raise ValueError(f"bad header {header}")
    _, dtype, dimension, digest = header
    dimension = int(dimension)
    size, code = {"f32": (4, "f"), "f16": (2, "e")}[dtype]
    body = payload[newline + 1 :]
    if len(body) != dimension * size:
        raise ValueError(f"{len(body)} bytes, expected {dimension} x {size}")
    return list(struct.unpack("<%d%s" % (dimension, code), body)), dtype, digest


def control_key(prefix, name):
    return "{%s}:%s" % (prefix, name)


def lookup(redis, prefix, request):
    meta = as_dict(redis.call("HGETALL", control_key(prefix, "meta")))
    if meta.get("layout") != "1":
        raise ValueError(f"layout {meta.get('layout')}")
    buckets = int(meta["buckets"])
    pointer = as_dict(redis.call("HGETALL", control_key(prefix, "ptr")))
    version = request.get("version") or pointer.get("current")
    if not version:
        return {"meta": meta, "pointer": pointer, "hits": None}
    fields = [f"{request['entity']}:{record_id}" for record_id in request["ids"]]
    groups = {}
    for index, field in enumerate(fields):
        groups.setdefault(fnv1a32(field) % buckets, []).append(index)
    commands = []
    for bucket, indexes in groups.items():
        base = "{%s:%d}:v:%s" % (prefix, bucket, version)
        names = [fields[i] for i in indexes]
        commands.append(("HMGET", base + ":d", *names))
        commands.append(("HMGET", base + ":m", *names))
    replies = redis.pipeline(commands)
    hits = [None] * len(fields)
    for position, indexes in enumerate(groups.values()):
        payloads, metas = replies[2 * position], replies[2 * position + 1]
        for index, payload, record_meta in zip(indexes, payloads, metas):
            entry = {"meta": None if record_meta is None else record_meta.decode("ascii")}
            if payload is not None:
                vector, dtype, digest = decode_payload(payload)
                entry.update(version=version, dtype=dtype, modelDigest=digest, vector=vector)
            hits[index] = entry
    return {"meta": meta, "pointer": pointer, "hits": hits}


def watch(redis, prefix):
    redis.send("SUBSCRIBE", control_key(prefix, "flips"))
    redis.reply()  # the subscribe confirmation
    print(json.dumps({"subscribed": True}), flush=True)
    kind, _channel, message = redis.reply()
    assert kind == b"message", kind
    print(json.dumps({"message": json.loads(message)}), flush=True)
    other = Resp(sys.argv[2])
    print(json.dumps({"pointer": as_dict(other.call("HGETALL", control_key(prefix, "ptr")))}), flush=True)


if __name__ == "__main__":
    mode, url, store_prefix = sys.argv[1:4]
    connection = Resp(url)
    if mode == "lookup":
        print(json.dumps(lookup(connection, store_prefix, json.load(sys.stdin))), flush=True)
    else:
        watch(connection, store_prefix)
