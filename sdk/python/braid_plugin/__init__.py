"""Braid connector plugins in Python.

A plugin is an executable the Braid worker starts, one process per task; it
serves the protocol in proto/braid/connector/v1 over gRPC on the Unix socket
named by BRAID_PLUGIN_SOCKET. Write a Source or a Sink, describe its settings
in a Spec, and call serve():

    serve(Connector(spec, lambda config, env: MySource(config)))

The worker validates settings against the spec (types, defaults, bounds,
enums) before they reach the connector; Connector(check=...) adds a check of
its own, which lint and the REST API run too. See docs/plugins.md.
"""

import json
import logging
import os
import sys
import threading
from concurrent import futures

import grpc

from . import connector_pb2 as pb

PROTOCOL_MAJOR, PROTOCOL_MINOR = 1, 1
READY_LINE = "braid-plugin 1 ready"
SERVICE = "braid.connector.v1.Connector"
MAX_MESSAGE = 256 << 20


# --- errors the worker understands ------------------------------------------


class EndOfInput(Exception):
    """A finite source is done; records is its last batch."""

    def __init__(self, records=()):
        super().__init__("end of input")
        self.records = list(records)


class Backoff(Exception):
    """Nothing to read now; the worker asks again (after wait_s if given)."""

    def __init__(self, message="nothing to read, back off", wait_s=0.0):
        super().__init__(message)
        self.wait_s = wait_s


class Retryable(Exception):
    """A transient failure: the worker retries."""


class Fatal(Exception):
    """A permanent failure: retrying cannot help."""


class BatchError(Exception):
    """Some records of a write failed: errors is a list of (index, message)."""

    def __init__(self, errors):
        super().__init__("records failed: " + "; ".join(f"record {i}: {m}" for i, m in errors))
        self.errors = list(errors)


class ConfigError(Exception):
    """Settings that do not work: errors is a list of (field, message)."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = list(errors)


# --- the connector interfaces -----------------------------------------------


class Record:
    """One record. value and key are bytes or None; fields a dict or None.
    A source sets error (a message saying what was wrong and where) on input
    it could not parse, with the raw bytes as value: the worker sends it to
    the dead-letter topic (errors.tolerance all) or fails the task (none)."""

    __slots__ = ("key", "value", "headers", "timestamp_ns", "position", "op", "fields", "before",
                 "topic", "partition", "offset", "error")

    def __init__(self, value=None, key=None, headers=(), timestamp_ns=0, position=b"", op="",
                 fields=None, before=None, topic="", partition=0, offset=0, error=""):
        self.key, self.value, self.headers = key, value, list(headers)
        self.timestamp_ns, self.position, self.op = timestamp_ns, position, op
        self.fields, self.before = fields, before
        self.topic, self.partition, self.offset = topic, partition, offset
        self.error = error


class Source:
    """Reads records. read() returns a list (at least one record) or raises
    EndOfInput or Backoff; it should return within a second or so. ack() may
    run on another thread while read() runs."""

    def open(self, position):  # position: bytes, or None at the start
        pass

    def read(self):
        raise NotImplementedError

    def ack(self, position):
        pass

    def close(self):
        pass


class Sink:
    """Writes records. flush() makes everything written durable; the worker
    commits offsets only after it."""

    def open(self):
        pass

    def write(self, records):
        raise NotImplementedError

    def flush(self):
        pass

    def close(self):
        pass


class Field:
    """One setting: type is string, int, float, bool, duration, list, map or any."""

    def __init__(self, name, type, doc, default=None, required=False, secret=False, path=False,
                 enum=(), example="", min=None, max=None):
        self.name, self.type, self.doc, self.default = name, type, doc, default
        self.required, self.secret, self.path = required, secret, path
        self.enum, self.example, self.min, self.max = list(enum), example, min, max


class Spec:
    def __init__(self, name, kind, summary, fields=(), doc="", version=""):
        if kind not in ("source", "sink"):
            raise ValueError("kind must be source or sink")
        self.name, self.kind, self.summary = name, kind, summary
        self.fields, self.doc, self.version = list(fields), doc, version


class Connector:
    """A spec, a factory(config: dict, env: dict) returning a Source or Sink,
    and optionally check(config) returning a list of (field, message)."""

    def __init__(self, spec, factory, check=None):
        self.spec, self.factory, self.check = spec, factory, check


# --- values -----------------------------------------------------------------


def to_value(v):
    if v is None:
        return pb.Value(null=True)
    if isinstance(v, bool):
        return pb.Value(bool=v)
    if isinstance(v, int):
        return pb.Value(int=v) if v < 1 << 63 else pb.Value(uint=v)
    if isinstance(v, float):
        return pb.Value(float=v)
    if isinstance(v, str):
        return pb.Value(string=v)
    if isinstance(v, (bytes, bytearray)):
        return pb.Value(bytes=bytes(v))
    if isinstance(v, (list, tuple)):
        return pb.Value(list=pb.List(items=[to_value(x) for x in v]))
    if isinstance(v, dict):
        return pb.Value(map=to_map(v))
    return pb.Value(string=str(v))


def to_map(d):
    m = pb.Map()
    for k, v in d.items():
        m.entries[k].CopyFrom(to_value(v))
    return m


def from_value(v):
    kind = v.WhichOneof("kind")
    if kind in (None, "null"):
        return None
    if kind == "list":
        return [from_value(x) for x in v.list.items]
    if kind == "map":
        return from_map(v.map)
    if kind == "duration_nanos":
        return v.duration_nanos / 1e9  # seconds
    return getattr(v, kind)


def from_map(m):
    return {k: from_value(v) for k, v in m.entries.items()}


def to_error(e):
    if e is None:
        return None
    if isinstance(e, BatchError):
        return pb.Error(kind=pb.Error.KIND_BATCH, message=str(e),
                        record_errors=[pb.RecordError(index=i, message=m) for i, m in e.errors])
    if isinstance(e, ConfigError):
        return pb.Error(kind=pb.Error.KIND_INVALID_CONFIG, message=str(e),
                        field_errors=[pb.FieldError(field=f, message=m) for f, m in e.errors])
    if isinstance(e, EndOfInput):
        return pb.Error(kind=pb.Error.KIND_END_OF_INPUT, message=str(e))
    if isinstance(e, Backoff):
        return pb.Error(kind=pb.Error.KIND_BACKOFF, message=str(e), backoff_nanos=int(e.wait_s * 1e9))
    if isinstance(e, Fatal):
        return pb.Error(kind=pb.Error.KIND_FATAL, message=str(e))
    if isinstance(e, Retryable):
        return pb.Error(kind=pb.Error.KIND_RETRYABLE, message=str(e))
    return pb.Error(message=f"{type(e).__name__}: {e}")


def to_batch(records):
    b = pb.Batch()
    for r in records:
        pr = b.records.add()
        pr.topic, pr.partition, pr.offset = r.topic, r.partition, r.offset
        if r.key is not None:
            pr.key = r.key
        if r.value is not None:
            pr.value = r.value
        for k, v in r.headers:
            pr.headers.add(key=k, value=v)
        pr.timestamp_nanos, pr.position, pr.op = r.timestamp_ns, r.position, r.op
        if r.error:
            pr.error = r.error
        if r.fields is not None:
            pr.fields.CopyFrom(to_map(r.fields))
        if r.before is not None:
            pr.before.CopyFrom(to_map(r.before))
    return b


def from_batch(b):
    out = []
    for pr in b.records:
        out.append(Record(
            key=pr.key if pr.HasField("key") else None,
            value=pr.value if pr.HasField("value") else None,
            headers=[(h.key, h.value) for h in pr.headers], timestamp_ns=pr.timestamp_nanos,
            position=pr.position, op=pr.op,
            fields=from_map(pr.fields) if pr.HasField("fields") else None,
            before=from_map(pr.before) if pr.HasField("before") else None,
            topic=pr.topic, partition=pr.partition, offset=pr.offset))
    return out


def to_spec(c):
    s = c.spec
    out = pb.Spec(name=s.name, kind=s.kind, summary=s.summary, doc=s.doc, version=s.version,
                  has_check=c.check is not None, capabilities=pb.Capabilities())
    for f in s.fields:
        pf = out.fields.add(name=f.name, type=f.type, required=f.required, secret=f.secret, path=f.path,
                            doc=f.doc, enum=f.enum, example=f.example)
        for attr in ("default", "min", "max"):
            if getattr(f, attr) is not None:
                getattr(pf, attr).CopyFrom(to_value(getattr(f, attr)))
    return out


# --- the server -------------------------------------------------------------


class JSONLines(logging.Handler):
    """Writes log records as the JSON lines the worker re-logs with its keys."""

    def emit(self, record):
        line = {"level": {"WARNING": "WARN", "CRITICAL": "ERROR"}.get(record.levelname, record.levelname),
                "msg": record.getMessage()}
        line.update(getattr(record, "attrs", {}))
        sys.stderr.write(json.dumps(line, default=str) + "\n")
        sys.stderr.flush()


class _Servicer:
    def __init__(self, connectors):
        self.connectors = {(c.spec.kind, c.spec.name): c for c in connectors}
        self.inst = None
        self.lock = threading.Lock()

    def _lookup(self, name, kind, context):
        c = self.connectors.get((kind, name))
        if c is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"this plugin has no {kind} connector {name!r}")
        return c

    def Handshake(self, req, context):
        if req.protocol.major != PROTOCOL_MAJOR:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"host speaks plugin protocol v{req.protocol.major}, this plugin v{PROTOCOL_MAJOR}: "
                          "use an SDK of the host's major version")
        return pb.HandshakeResponse(protocol=pb.Version(major=PROTOCOL_MAJOR, minor=PROTOCOL_MINOR),
                                    specs=[to_spec(c) for c in self.connectors.values()], sdk="python")

    def Validate(self, req, context):
        c = self._lookup(req.name, req.kind, context)
        errs = c.check(from_map(pb.Map(entries=req.config))) if c.check else []
        return pb.ValidateResponse(errors=[pb.FieldError(field=f, message=m) for f, m in errs])

    def Configure(self, req, context):
        c = self._lookup(req.name, req.kind, context)
        env = {"pipeline": req.env.pipeline, "connector": req.env.connector, "task": req.env.task,
               "topic": req.env.topic, "topics": list(req.env.topics), "data_dir": req.env.data_dir}
        try:
            with self.lock:
                if self.inst is not None:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this plugin process already runs a connector")
                self.inst = c.factory(from_map(pb.Map(entries=req.config)), env)
        except Exception as e:  # noqa: BLE001 - every error goes back to the host
            return pb.ConfigureResponse(error=to_error(e))
        return pb.ConfigureResponse()

    def _call(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            return to_error(e)
        return None

    def Open(self, req, context):
        if isinstance(self.inst, Source):
            return pb.OpenResponse(error=self._call(self.inst.open, req.position if req.has_position else None))
        return pb.OpenResponse(error=self._call(self.inst.open))

    def Read(self, requests, context):
        for _ in requests:
            try:
                yield pb.ReadResponse(batch=to_batch(self.inst.read()))
            except EndOfInput as e:
                yield pb.ReadResponse(batch=to_batch(e.records), error=to_error(e))
            except Exception as e:  # noqa: BLE001
                yield pb.ReadResponse(error=to_error(e))

    def Ack(self, req, context):
        return pb.AckResponse(error=self._call(self.inst.ack, req.position))

    def Write(self, req, context):
        return pb.WriteResponse(error=self._call(self.inst.write, from_batch(req.batch)))

    def Flush(self, req, context):
        return pb.FlushResponse(error=self._call(self.inst.flush))

    def WrittenOffsets(self, req, context):
        return pb.WrittenOffsetsResponse()

    def Deleted(self, req, context):
        return pb.DeletedResponse()

    def Close(self, req, context):
        with self.lock:
            inst, self.inst = self.inst, None
        return pb.CloseResponse(error=self._call(inst.close) if inst else None)

    def Health(self, req, context):
        return pb.HealthResponse()


_METHODS = {
    "Handshake": (pb.HandshakeRequest, "unary"), "Validate": (pb.ValidateRequest, "unary"),
    "Configure": (pb.ConfigureRequest, "unary"), "Open": (pb.OpenRequest, "unary"),
    "Read": (pb.ReadRequest, "stream"), "Ack": (pb.AckRequest, "unary"), "Write": (pb.WriteRequest, "unary"),
    "Flush": (pb.FlushRequest, "unary"), "WrittenOffsets": (pb.WrittenOffsetsRequest, "unary"),
    "Deleted": (pb.DeletedRequest, "unary"), "Close": (pb.CloseRequest, "unary"),
    "Health": (pb.HealthRequest, "unary"),
}


def serve(*connectors):
    """Serves the connectors until the worker goes away; call it from main."""
    path = os.environ.get("BRAID_PLUGIN_SOCKET")
    if not path:
        sys.exit("BRAID_PLUGIN_SOCKET is not set: this is a Braid connector plugin; "
                 "put it in a --plugin-dir and the worker starts it")
    logging.basicConfig(level=logging.DEBUG, handlers=[JSONLines()])
    servicer = _Servicer(connectors)
    handlers = {}
    for name, (req, mode) in _METHODS.items():
        fn = getattr(servicer, name)
        if mode == "stream":
            handlers[name] = grpc.stream_stream_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=lambda m: m.SerializeToString())
        else:
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=lambda m: m.SerializeToString())
    opts = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=opts)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port("unix:" + path)
    server.start()
    print(READY_LINE, flush=True)
    sys.stdin.buffer.read()  # the worker holds our standard input open while it lives
    server.stop(0)
    os._exit(0)
