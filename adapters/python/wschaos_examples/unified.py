"""An example of the unified single-connection client (002), written here from its deployment guide: one
WebSocket per client on ``/stream``, streams added and removed with live SUBSCRIBE and UNSUBSCRIBE requests
(paced under Binance's 5 messages a second), every stream subscribed again after a reconnect, messages
routed to their stream's subscribers by the ``stream`` field of the combined wrapper.

What 002 leaves open, and this example assumes: WSManager's backoff (full jitter, 1 s base, 30 s cap),
retried without a limit and with the count reset when the socket opens; no liveness check, no connect
timeout; no second connection past 1024 streams and no fallback to legacy (the example does not have one).
"""

import asyncio
import json
import random

from websockets.asyncio.client import connect

MESSAGES_PER_SECOND = 5


class UnifiedClient:
    def __init__(self, url, local_address=None, time_unit=None, base_delay=1.0, max_delay=30.0):
        query = f"?timeUnit={time_unit}" if time_unit else ""
        self.url = url.rstrip("/").removesuffix("/ws") + "/stream" + query
        self.local_address = local_address
        self.base_delay, self.max_delay = base_delay, max_delay
        self.subscribers = {}  # stream -> {token: callback}
        self.outbox = asyncio.Queue()
        self.next_id = 0
        self.next_token = 0
        self.metrics = {"implementation": "Unified", "activeConnections": 0, "retryCount": 0,
                        "unroutedMessages": 0, "fallbackActivations": 0}
        self.task = asyncio.get_running_loop().create_task(self.run())

    def subscribe(self, stream, callback):
        """Adds a subscriber; the first one of a stream sends SUBSCRIBE. Returns the unsubscribe callable."""
        token = self.next_token
        self.next_token += 1
        callbacks = self.subscribers.setdefault(stream, {})
        if not callbacks:
            self.request("SUBSCRIBE", [stream])
        callbacks[token] = callback

        def unsubscribe():
            callbacks.pop(token, None)
            if not callbacks and self.subscribers.get(stream) is callbacks:
                del self.subscribers[stream]
                self.request("UNSUBSCRIBE", [stream])

        return unsubscribe

    def request(self, method, streams):
        self.next_id += 1
        self.outbox.put_nowait(json.dumps({"method": method, "params": streams, "id": self.next_id}))

    async def run(self):
        attempt = 0
        while True:
            try:
                local = (self.local_address, 0) if self.local_address else None
                async with connect(self.url, local_addr=local, open_timeout=None, ping_interval=None) as ws:
                    attempt = 0
                    self.metrics["activeConnections"] = 1
                    # A new socket starts from the streams wanted now: what was queued for the old one is
                    # dropped, and everything is subscribed again in one request.
                    self.outbox = asyncio.Queue()
                    if self.subscribers:
                        self.request("SUBSCRIBE", list(self.subscribers))
                    await self.session(ws)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - any failure of the socket is a reconnect
                pass
            self.metrics["activeConnections"] = 0
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))
            attempt += 1
            self.metrics["retryCount"] += 1
            await asyncio.sleep(delay)

    async def session(self, ws):
        """Sends and receives until either side ends; the other is cancelled with it."""
        tasks = [asyncio.ensure_future(self.send(ws)), asyncio.ensure_future(self.receive(ws))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()

    async def send(self, ws):
        while True:
            message = await self.outbox.get()
            await ws.send(message)
            await asyncio.sleep(1 / MESSAGES_PER_SECOND)

    async def receive(self, ws):
        async for text in ws:
            try:
                message = json.loads(text)
            except ValueError:
                continue
            if "id" in message:
                continue
            callbacks = self.subscribers.get(message.get("stream"))
            if callbacks is None:
                self.metrics["unroutedMessages"] += 1  # in flight after an UNSUBSCRIBE, or misrouted
                continue
            for callback in list(callbacks.values()):
                callback(message.get("data"))
        raise ConnectionError("the upstream closed the socket")

    def get_metrics(self):
        return dict(self.metrics)

    async def close(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
