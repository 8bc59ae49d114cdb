"""Drives Binance's official legacy Python connector (binance-connector 3.12.0, websocket-client) against a
mock upstream, unchanged apart from its stream_url, and prints what it saw as one JSON object.

Usage: python binance_connector.py ws://127.0.0.1:PORT
Exits non-zero when the expected traffic does not arrive within 20 seconds.
"""

import json
import sys
import threading
import time

from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

DEADLINE_SECONDS = 20


def run(url, combined):
    seen = {"responses": [], "events": {}, "errors": [], "closed": False}
    lock = threading.Lock()
    done = threading.Event()

    def on_message(_, message):
        payload = json.loads(message)
        with lock:
            if isinstance(payload, dict) and "id" in payload:
                seen["responses"].append(payload)
            else:
                data = payload["data"] if combined else payload
                kind = data.get("e") if isinstance(data, dict) else "array"
                kind = kind or ("bookTicker" if "u" in data else "partialDepth")
                seen["events"].setdefault(kind, []).append(data)
            enough = all(len(seen["events"].get(k, [])) >= 3 for k in ("trade", "depthUpdate", "kline"))
            if enough and len(seen["responses"]) >= 4:
                done.set()

    def on_error(_, error):
        seen["errors"].append(str(error))

    client = SpotWebsocketStreamClient(
        stream_url=url, on_message=on_message, on_error=on_error, is_combined=combined, time_unit="MICROSECOND"
    )
    client.trade(symbol="btcusdt", id=1)
    client.diff_book_depth(symbol="ethusdt", speed=100, id=2)
    client.kline(symbol="bnbusdt", interval="1m", id=3)
    client.list_subscribe(id=4)
    finished = done.wait(DEADLINE_SECONDS)
    client.stop()
    with lock:
        return {
            "finished": finished,
            "responses": seen["responses"],
            "errors": seen["errors"],
            "trade": seen["events"].get("trade", [])[:3],
            "depthUpdate": seen["events"].get("depthUpdate", [])[:3],
            "kline": seen["events"].get("kline", [])[:1],
        }


if __name__ == "__main__":
    base = sys.argv[1]
    result = {"raw": run(base, False), "combined": run(base, True)}
    print(json.dumps(result))
    sys.exit(0 if result["raw"]["finished"] and result["combined"]["finished"] else 1)
