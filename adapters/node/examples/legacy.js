'use strict';
// An example of the legacy `binanceConnectionManager`, written here from the seeds' description (000, 003,
// and the success-criteria table): one WebSocket per `subscribe()` call, reconnected after a fixed delay
// without jitter and without an attempt limit; `subscribe(stream, callback)` returns the unsubscribe
// function, which closes that subscriber's socket. No liveness check and no connect timeout: the documents
// describe neither.

const WebSocket = require('ws');

class LegacyConnectionManager {
  /**
   * @param {object} options
   * @param {string} options.url the `/ws/` base URL, e.g. 'wss://stream.binance.com:9443/ws/'
   * @param {string} [options.localAddress] the source address of every socket (the `ws` package's option)
   * @param {string} [options.timeUnit] Binance's `timeUnit` query parameter, e.g. 'MICROSECOND'
   * @param {number} [options.reconnectDelay] milliseconds before a dropped socket is reopened (1000)
   */
  constructor({ url, localAddress, timeUnit, reconnectDelay = 1000 }) {
    this.url = url;
    this.localAddress = localAddress;
    this.timeUnit = timeUnit;
    this.reconnectDelay = reconnectDelay;
    this.sockets = new Set();
    this.retryCount = 0;
  }

  streamUrl(stream) {
    return `${this.url}${stream}${this.timeUnit ? `?timeUnit=${this.timeUnit}` : ''}`;
  }

  /** One socket for this call; the returned function closes it. */
  subscribe(stream, callback) {
    const entry = { ws: null, timer: null, closed: false };
    const open = () => {
      const ws = new WebSocket(this.streamUrl(stream), { localAddress: this.localAddress });
      entry.ws = ws;
      ws.on('message', (buffer) => {
        let data;
        try {
          data = JSON.parse(buffer);
        } catch {
          return;
        }
        callback(data);
      });
      ws.on('error', () => {}); // 'close' follows every error
      ws.on('close', () => {
        if (entry.closed) return;
        this.retryCount += 1;
        entry.timer = setTimeout(open, this.reconnectDelay);
      });
    };
    open();
    this.sockets.add(entry);
    return () => this.close(entry);
  }

  close(entry) {
    entry.closed = true;
    clearTimeout(entry.timer);
    entry.ws?.terminate();
    this.sockets.delete(entry);
  }

  getConnectionStatus() {
    const open = [...this.sockets].some((e) => e.ws?.readyState === WebSocket.OPEN);
    return open ? 'connected' : 'disconnected';
  }

  getMetrics() {
    const activeConnections = [...this.sockets].filter((e) => e.ws?.readyState === WebSocket.OPEN).length;
    return { implementation: 'Legacy', activeConnections, retryCount: this.retryCount };
  }

  disconnect() {
    for (const entry of [...this.sockets]) this.close(entry);
  }
}

module.exports = { LegacyConnectionManager };
