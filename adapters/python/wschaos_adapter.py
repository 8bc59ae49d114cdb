"""The wschaos adapter protocol, version 1, in front of a Python connection manager.

wschaos writes one JSON command per line on stdin (init, client, subscribe, unsubscribe, metrics, stop);
this writes one JSON report per line on stdout (ready, deliveries, status, metrics, error, stopped). Logs go
to stderr: stdout carries nothing but reports. See the README's "External managers" section.

A manager is what a factory returns for ``{"url", "upstream", "local_address", "time_unit", "client"}``:
an object whose ``subscribe(stream, callback)`` returns an unsubscribe callable, with optional
``get_metrics()`` and ``async close()``. Everything runs on one asyncio loop.
"""

import asyncio
import json
import sys
import time

PROTOCOL = 1
ADAPTER = "wschaos-python 0.1.0"
MAX_ROWS = 2000
# The lag probe's sleep: each sample is how much later than this the loop woke it.
LAG_PROBE_S = 0.01
LAG_BUCKET_US = 100
LAG_BUCKETS = 20_000


def percentile(buckets, count, q):
    """The upper edge (µs) of the bucket holding quantile ``q`` of ``count`` samples."""
    rank, seen = max(1, -(-int(count * q * 1000) // 1000)), 0
    for index, n in enumerate(buckets):
        seen += n
        if seen >= rank:
            return (index + 1) * LAG_BUCKET_US
    return len(buckets) * LAG_BUCKET_US


def now_micros():
    """Wall-clock microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def identifying_key(data):
    """``t`` of a trade, ``a`` of an aggTrade, ``u`` of a depth update or a bookTicker, ``lastUpdateId`` of a
    partial depth; ``None`` for the kinds without one (identified by their event time)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("e")
    if kind == "trade":
        key = data.get("t")
    elif kind == "aggTrade":
        key = data.get("a")
    elif kind == "depthUpdate":
        key = data.get("u")
    elif kind is None and "lastUpdateId" in data:
        key = data.get("lastUpdateId")
    elif kind is None and {"u", "b", "a"} <= data.keys():
        key = data.get("u")
    else:
        key = None
    return key if isinstance(key, int) and key >= 0 else None


def write(report):
    sys.stdout.write(json.dumps(report, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class _Client:
    def __init__(self, manager):
        self.manager = manager
        self.rows = []
        self.subscriptions = {}


class Adapter:
    """The protocol loop; ``implementations`` maps the names a scenario may use to factories."""

    def __init__(self, implementations, name=ADAPTER):
        self.implementations = implementations
        self.name = name
        self.clients = {}
        self.init = None
        self.stopped = asyncio.Event()

    def flush(self, client_id, client):
        while client.rows:
            rows, client.rows = client.rows[:MAX_ROWS], client.rows[MAX_ROWS:]
            write({"type": "deliveries", "client": client_id, "rows": rows})

    def flush_all(self):
        for client_id, client in self.clients.items():
            self.flush(client_id, client)

    async def batches(self):
        period = max(1, self.init.get("batch_ms", 50)) / 1000
        while not self.stopped.is_set():
            await asyncio.sleep(period)
            self.flush_all()

    async def lag(self):
        """Reports the asyncio loop's lag once a second (``lag``: p99 and max since ``init``, µs): a process
        whose loop lags cannot deliver on time, whatever its managers do. The samples go into buckets of
        ``LAG_BUCKET_US`` (the last one holds everything longer), so a long run costs no more memory."""
        buckets = [0] * LAG_BUCKETS
        count, largest, second = 0, 0, time.monotonic()
        while not self.stopped.is_set():
            before = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            now = time.monotonic()
            lag_us = max(0, round((now - before - LAG_PROBE_S) * 1e6))
            buckets[min(LAG_BUCKETS - 1, lag_us // LAG_BUCKET_US)] += 1
            count, largest = count + 1, max(largest, lag_us)
            if now - second >= 1:
                write({"type": "lag", "p99_us": percentile(buckets, count, 0.99), "max_us": largest})
                second = now

    def on_init(self, command):
        self.init = command
        asyncio.get_running_loop().create_task(self.batches())
        asyncio.get_running_loop().create_task(self.lag())
        write({"type": "ready", "protocol": PROTOCOL, "adapter": self.name,
               "implementations": list(self.implementations)})

    def on_client(self, command):
        factory = self.implementations.get(command["implementation"])
        if factory is None:
            write({"type": "error", "client": command["client"],
                   "message": f"no implementation named {command['implementation']}"})
            return
        upstream = self.init["upstream"]
        manager = factory({"url": f"{upstream}/ws/", "upstream": upstream, "local_address": command["source"],
                           "time_unit": self.init.get("time_unit"), "client": command["client"]})
        self.clients[command["client"]] = _Client(manager)

    def on_subscribe(self, command):
        client = self.clients.get(command["client"])
        key = (command["subscriber"], command["stream"])
        if client is None or key in client.subscriptions:
            return
        subscriber, stream = key

        def on_data(data):
            event_time = data.get("E") if isinstance(data, dict) else None
            client.rows.append([subscriber, stream, identifying_key(data),
                                event_time if isinstance(event_time, int) else None, now_micros()])
            if len(client.rows) >= MAX_ROWS:
                self.flush(command["client"], client)

        client.subscriptions[key] = client.manager.subscribe(stream, on_data)

    def on_unsubscribe(self, command):
        client = self.clients.get(command["client"])
        unsubscribe = client and client.subscriptions.pop((command["subscriber"], command["stream"]), None)
        if unsubscribe:
            unsubscribe()

    def on_migrate(self, command):
        # None of these implementations is a migration layer (the ready report lists no "migrations"), so
        # wschaos never sends this; an adapter that had one would flip its flag and resubscribe here.
        write({"type": "error", "client": command["client"],
               "message": "this adapter runs no migration layer: it cannot migrate a client"})

    def on_metrics(self, command):
        client = self.clients.get(command["client"])
        if client is not None and hasattr(client.manager, "get_metrics"):
            write({"type": "metrics", "client": command["client"], "metrics": client.manager.get_metrics()})

    async def on_stop(self, _command):
        self.flush_all()
        for client_id, client in self.clients.items():
            if hasattr(client.manager, "get_metrics"):
                write({"type": "metrics", "client": client_id, "metrics": client.manager.get_metrics()})
            for unsubscribe in list(client.subscriptions.values()):
                unsubscribe()
            if hasattr(client.manager, "close"):
                await client.manager.close()
        self.flush_all()
        self.stopped.set()
        write({"type": "stopped"})

    async def handle(self, line):
        try:
            command = json.loads(line)
        except ValueError:
            print(f"wschaos adapter: not JSON: {line[:200]!r}", file=sys.stderr)
            return
        kind = command.get("type")
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            print(f"wschaos adapter: unknown command {kind!r}", file=sys.stderr)
            return
        if kind != "init" and self.init is None:
            print("wschaos adapter: a command before init", file=sys.stderr)
            return
        result = handler(command)
        if asyncio.iscoroutine(result):
            await result

    async def run(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=4 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while not self.stopped.is_set():
            line = await reader.readline()
            if not line:
                self.flush_all()
                return
            await self.handle(line.decode("utf-8", "replace").rstrip("\n"))


def run_adapter(implementations, name=ADAPTER):
    """Runs the protocol loop until ``stop`` (or the end of stdin)."""
    asyncio.run(Adapter(implementations, name).run())
