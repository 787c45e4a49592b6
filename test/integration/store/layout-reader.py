"""A store reader written from the README's "Store layout (Redis)" section alone, in another language
than the project, with the standard library only (a minimal RESP client), so CI needs nothing beyond
python3. python-reader.test.ts runs it against vectors the project's writer stored; a mismatch means the
documented layout and the code disagree.

Usage: layout-reader.py lookup <redis-url> <prefix> [deadline-ms]   (stdin: {"entity", "ids", "version"?};
                                                                   deadline default 5000)
       layout-reader.py watch <redis-url> <prefix>    (prints "subscribed", then the first flip message
                                                       and the pointer re-read after it)
Output: one JSON object per line on stdout; a lookup that fails prints {"error": {"code", "message"}}
and exits 1.
"""

import json
import re
import socket
import struct
import sys
import time
from urllib.parse import urlparse

VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
ENTITY_NAME = VERSION_NAME
MAX_ID_LENGTH = 512


class ReaderError(Exception):
    """A failed lookup, with the code the TypeScript reader uses for the same case."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Resp:
    """Just enough of RESP2 for HGETALL, HMGET, HGET, SUBSCRIBE, pipelined."""

    def __init__(self, url, deadline=None):
        parsed = urlparse(url)
        # One deadline for the whole lookup: a hung server, or one gone without closing the
        # connection, would otherwise hold every reply for as long as the socket timeout.
        self.deadline = deadline
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=self.remaining())
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

    def remaining(self):
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("lookup deadline passed")
        return left

    def reply(self):
        self.sock.settimeout(self.remaining())
        line = self.file.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        line = line[:-2]
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
    text = [item.decode(errors="replace") for item in flat]
    return dict(zip(text[0::2], text[1::2]))


def decode_payload(payload):
    newline = payload.index(b"\n")
    header = payload[:newline].decode("ascii").split(" ")
    if len(header) != 4 or header[0] != "J1":
        raise ValueError(f"bad header {header}")
    _, dtype, dimension, digest = header
    dimension = int(dimension)
    if not 1 <= dimension <= 65536:
        raise ValueError(f"dimension {dimension}")
    size, code = {"f32": (4, "f"), "f16": (2, "e")}[dtype]
    body = payload[newline + 1 :]
    if len(body) != dimension * size:
        raise ValueError(f"{len(body)} bytes, expected {dimension} x {size}")
    return list(struct.unpack("<%d%s" % (dimension, code), body)), dtype, digest


def record_fields(entity, ids):
    """The record fields `<entity>:<id>`; refuses what could name another record, as the README says."""
    if not isinstance(entity, str) or not ENTITY_NAME.fullmatch(entity):
        # An entity with `:` would name another entity's record: `job:b` + `2` is `job` + `b:2`.
        raise ReaderError("INVALID_ARGUMENT", f"entity {json.dumps(entity)} is not an entity name")
    fields = []
    for index, record_id in enumerate(ids):
        # The TypeScript reader counts UTF-16 code units.
        units = len(record_id.encode("utf-16-le", "surrogatepass")) // 2 if isinstance(record_id, str) else 0
        if units == 0 or units > MAX_ID_LENGTH:
            raise ReaderError("INVALID_ARGUMENT", f"ids[{index}] is empty or longer than {MAX_ID_LENGTH}")
        try:
            record_id.encode("utf-8")
        except UnicodeEncodeError as error:
            # A lone surrogate: Redis would get U+FFFD, the key of another record.
            raise ReaderError("INVALID_ARGUMENT", f"ids[{index}] is not well-formed Unicode") from error
        fields.append(f"{entity}:{record_id}")
    return fields


def control_key(prefix, name):
    return "{%s}:%s" % (prefix, name)


def read_pointer(redis, prefix):
    """{P}:ptr as the flip script writes it; anything else was edited by hand and is not adopted."""
    key = control_key(prefix, "ptr")
    try:
        pointer = as_dict(redis.call("HGETALL", key))
    except RuntimeError as error:
        if str(error).startswith("WRONGTYPE"):
            raise ReaderError("CORRUPT_RECORD", f"{key} is not a hash") from error
        raise
    # Below 2^53, as the README's table says (the TypeScript reader's numbers are exact only there).
    epoch = pointer.get("epoch", "0")
    if not re.fullmatch(r"[0-9]+", epoch) or int(epoch) >= 2**53:
        raise ReaderError("CORRUPT_RECORD", f"{key} epoch {pointer['epoch']} is malformed")
    for name in ("current", "backup"):
        value = pointer.get(name, "")
        if value and not VERSION_NAME.fullmatch(value):
            raise ReaderError("CORRUPT_RECORD", f"{key} {name} {json.dumps(value)} is not a version name")
    return pointer


def version_state(redis, prefix, version):
    """The version's state in the registry, None when it is not registered."""
    entry = redis.call("HGET", control_key(prefix, "versions"), version)
    return None if entry is None else json.loads(entry)["state"]


def base_of(prefix, bucket, version):
    return "{%s:%d}:v:%s" % (prefix, bucket, version)


def read_version(redis, prefix, buckets, version, fields):
    groups = {}
    for index, field in enumerate(fields):
        groups.setdefault(fnv1a32(field) % buckets, []).append(index)
    commands = []
    for bucket, indexes in groups.items():
        base = base_of(prefix, bucket, version)
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
                try:
                    vector, dtype, digest = decode_payload(payload)
                except (ValueError, KeyError, struct.error) as error:
                    key = base_of(prefix, fnv1a32(fields[index]) % buckets, version) + ":d"
                    raise ReaderError(
                        "CORRUPT_RECORD", f"record {fields[index]} of version {version} (HGET {key}): {error}"
                    ) from error
                entry.update(version=version, dtype=dtype, modelDigest=digest, vector=vector)
            hits[index] = entry
    return hits


def lookup(redis, prefix, request):
    fields = record_fields(request["entity"], request["ids"])
    meta = as_dict(redis.call("HGETALL", control_key(prefix, "meta")))
    if not meta:
        raise ReaderError("STORE_NOT_FOUND", f"store {prefix} does not exist ({control_key(prefix, 'meta')})")
    if meta.get("layout") != "1":
        raise ValueError(f"layout {meta.get('layout')}")
    buckets = int(meta["buckets"])
    explicit = request.get("version")
    if explicit is not None and not VERSION_NAME.fullmatch(explicit):
        raise ReaderError("INVALID_ARGUMENT", f"version {json.dumps(explicit)} is not a version name")
    try:
        pointer = read_pointer(redis, prefix)
    except ReaderError:
        if explicit is None:
            raise
        pointer = None  # a lookup in a version the caller names does not need the pointer
    version = explicit or pointer.get("current")
    if not version:
        return {"meta": meta, "pointer": pointer, "hits": None}
    hits = read_version(redis, prefix, buckets, version, fields)
    # A miss is only "not embedded" while its version is still there: after Redis lost its data every
    # id misses, which a ranking service must not take for an answer.
    while any("vector" not in hit for hit in hits):
        state = version_state(redis, prefix, version)
        if explicit:
            if state is None or state == "deleting":
                why = "is not registered" if state is None else "is being deleted"
                raise ReaderError("VERSION_NOT_FOUND", f"version {version} {why} in store {prefix}")
            break
        if state == "complete":
            break
        fresh = read_pointer(redis, prefix)
        moved = fresh.get("current") and fresh["current"] != version
        if not moved or int(fresh.get("epoch", "0")) <= int(pointer.get("epoch", "0")):
            why = "is no longer registered" if state is None else f"is {state}, not complete"
            raise ReaderError(
                "NO_CURRENT_VERSION",
                f"store {prefix} has no current version: version {version}, which its pointer named at "
                f"epoch {pointer.get('epoch', '0')}, {why}",
            )
        # The pointer moved: repeat the whole lookup there, never fill misses from another version.
        pointer, version = fresh, fresh["current"]
        hits = read_version(redis, prefix, buckets, version, fields)
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
    if mode == "lookup":
        deadline_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 5000
        request = json.load(sys.stdin)
        try:
            try:
                connection = Resp(url, time.monotonic() + deadline_ms / 1000)
                result = lookup(connection, store_prefix, request)
            except OSError as error:  # refused, reset, or no answer before the deadline
                raise ReaderError("STORE_UNAVAILABLE", f"Redis unavailable: {error}") from error
        except ReaderError as error:
            print(json.dumps({"error": {"code": error.code, "message": str(error)}}), flush=True)
            sys.exit(1)
        print(json.dumps(result), flush=True)
    else:
        watch(Resp(url), store_prefix)
