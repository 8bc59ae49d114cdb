"""Drives ccxt (4.5.90), the multi-exchange library most trading code uses, through its async `pro` WebSocket
part against a mock upstream, unchanged apart from its URLs, and prints what it saw as one JSON object.

ccxt's first call is `load_markets()`: GET /api/v3/exchangeInfo, and with its default options the futures
/fapi/v1/exchangeInfo and /dapi/v1/exchangeInfo too. Then `watch_trades` (a live SUBSCRIBE on /ws/<n>)
and `watch_order_book` (a REST depth snapshot synchronised with the diff stream, ccxt's own U/u checks).

Usage: python ccxt_pro.py http://127.0.0.1:PORT
Exits non-zero when the expected traffic does not arrive within 20 seconds.
"""

import asyncio
import json
import sys

import ccxt.pro as ccxtpro

DEADLINE_SECONDS = 20


def exchange_for(base):
    ws = base.replace("http://", "ws://")
    return ccxtpro.binance(
        {
            "urls": {
                "api": {
                    "public": base + "/api/v3",
                    "fapiPublic": base + "/fapi/v1",
                    "dapiPublic": base + "/dapi/v1",
                    "ws": {"spot": ws + "/ws"},
                }
            }
        }
    )


async def trades(exchange, symbol, count):
    seen = []
    while len(seen) < count:
        seen.extend(await exchange.watch_trades(symbol))
    return [{"id": t["id"], "price": t["price"], "amount": t["amount"], "timestamp": t["timestamp"]} for t in seen]


async def order_book(exchange, symbol, updates):
    nonces = []
    book = None
    while len(nonces) < updates:
        book = await exchange.watch_order_book(symbol)
        nonces.append(book["nonce"])
    return {"nonces": nonces, "bids": book["bids"][:3], "asks": book["asks"][:3]}


async def run(base):
    exchange = exchange_for(base)
    result = {"errors": []}
    try:
        markets = await asyncio.wait_for(exchange.load_markets(), DEADLINE_SECONDS)
        btc = markets["BTC/USDT"]
        result["markets"] = sorted(markets)
        result["btc"] = {
            "id": btc["id"],
            "spot": btc["spot"],
            "active": btc["active"],
            "precision": btc["precision"],
            "limits": btc["limits"],
        }
        watched = asyncio.gather(trades(exchange, "BTC/USDT", 3), order_book(exchange, "ETH/USDT", 3))
        result["trades"], result["book"] = await asyncio.wait_for(watched, DEADLINE_SECONDS)
    except Exception as error:  # reported, not raised: the test prints what the client saw
        result["errors"].append(f"{type(error).__name__}: {error}")
    finally:
        await exchange.close()
    return result


if __name__ == "__main__":
    outcome = asyncio.run(run(sys.argv[1]))
    print(json.dumps(outcome))
    sys.exit(0 if not outcome["errors"] else 1)
