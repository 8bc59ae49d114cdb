#!/usr/bin/env bash
# Installs the real Binance client libraries the `real_clients` tests drive, into target/client-venv, the
# Python adapter's websockets package and the Prometheus project's Python client (its strict OpenMetrics
# parser reads the run's and the mock's /metrics in tests/it/monitoring.rs) there too, and the Node
# adapter's npm packages (ws, rxjs) into adapters/node/node_modules, all pinned.
# Usage: tests/clients/setup.sh   (then: cargo test --locked -- --ignored real_client)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/client-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check binance-connector==3.12.0 ccxt==4.5.90 websockets==16.0 prometheus-client==0.21.1
"$venv/bin/python" -c "import binance.websocket.spot.websocket_stream, ccxt.pro, websockets.asyncio.client, prometheus_client.openmetrics.parser" && echo "real clients ready in $venv"
npm ci --prefix adapters/node --no-audit --no-fund --loglevel=error
node -e "require('./adapters/node/node_modules/ws'); require('./adapters/node/node_modules/rxjs')" && echo "node adapter ready in adapters/node"
