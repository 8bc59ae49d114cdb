'use strict';
// An example WSManager, written here from its documentation (003): one WebSocket per distinct stream,
// shared by every subscriber through reference counting; exponential backoff with full jitter
// (random(0, min(maxRetryDelay, baseRetryDelay * 2^attempt)), at most maxRetryAttempts, then an error to the
// subscribers); streams idle for 5 minutes closed by a sweep every minute; getMetrics() and Prometheus text.
//
// What 003 leaves open, and this example assumes: the attempt count starts afresh when a socket opens; there
// is no liveness check and no connect timeout; an idle stream's subscribers are completed when it is swept.

const WebSocket = require('ws');
const { Observable, Subject, BehaviorSubject } = require('rxjs');

class WSManager {
  constructor({
    url,
    maxRetryAttempts = 10,
    baseRetryDelay = 1000,
    maxRetryDelay = 30000,
    jitterRange = 0.5, // documented as not used with full jitter
    debug = false,
    localAddress,
    timeUnit,
    idleTimeoutMs = 5 * 60 * 1000,
    cleanupIntervalMs = 60 * 1000,
  }) {
    Object.assign(this, { url, maxRetryAttempts, baseRetryDelay, maxRetryDelay, jitterRange, debug });
    Object.assign(this, { localAddress, timeUnit, idleTimeoutMs });
    this.streams = new Map();
    this.status = new BehaviorSubject('disconnected');
    this.metrics = { retryCount: 0, streamCreations: 0, streamCleanups: 0, activeConnections: 0, hwm: 0 };
    this.sweep = setInterval(() => this.forceCleanupIdleStreams(this.idleTimeoutMs), cleanupIntervalMs);
    this.sweep.unref();
  }

  /** Subscribe to a stream; every subscriber of one stream shares its socket. */
  subscribe(streamName) {
    return new Observable((subscriber) => {
      const entry = this.streams.get(streamName) ?? this.open(streamName);
      entry.refCount += 1;
      const inner = entry.subject.subscribe(subscriber);
      return () => {
        inner.unsubscribe();
        entry.refCount -= 1;
        if (entry.refCount === 0 && this.streams.get(streamName) === entry) this.close(streamName, false);
      };
    });
  }

  open(streamName) {
    const entry = { subject: new Subject(), refCount: 0, ws: null, retries: 0, timer: null, closed: false };
    entry.lastActivity = Date.now();
    this.streams.set(streamName, entry);
    this.metrics.streamCreations += 1;
    this.connect(streamName, entry);
    return entry;
  }

  connect(streamName, entry) {
    const query = this.timeUnit ? `?timeUnit=${this.timeUnit}` : '';
    const ws = new WebSocket(`${this.url}${streamName}${query}`, { localAddress: this.localAddress });
    entry.ws = ws;
    this.updateStatus('connecting');
    ws.on('open', () => {
      ws.wasOpen = true;
      entry.retries = 0;
      this.metrics.activeConnections += 1;
      this.metrics.hwm = Math.max(this.metrics.hwm, this.metrics.activeConnections);
      this.updateStatus();
    });
    ws.on('message', (buffer) => {
      entry.lastActivity = Date.now();
      let data;
      try {
        data = JSON.parse(buffer);
      } catch {
        if (this.debug) console.error(`WSManager: invalid message on ${streamName}`);
        return;
      }
      entry.subject.next(data);
    });
    ws.on('error', () => {}); // 'close' follows every error
    ws.on('close', () => {
      if (ws.wasOpen) this.metrics.activeConnections -= 1;
      this.updateStatus();
      if (entry.closed) return;
      if (entry.retries >= this.maxRetryAttempts) {
        this.streams.delete(streamName);
        entry.closed = true;
        entry.subject.error(new Error(`WSManager: ${streamName}: ${this.maxRetryAttempts} retries failed`));
        return;
      }
      const delay = this.getRetryDelayPreview(entry.retries).delay;
      entry.retries += 1;
      this.metrics.retryCount += 1;
      entry.timer = setTimeout(() => this.connect(streamName, entry), delay);
    });
  }

  close(streamName, idle) {
    const entry = this.streams.get(streamName);
    if (!entry) return;
    this.streams.delete(streamName);
    entry.closed = true;
    clearTimeout(entry.timer);
    entry.ws?.terminate();
    if (idle) {
      this.metrics.streamCleanups += 1;
      entry.subject.complete();
    }
  }

  updateStatus(state) {
    const sockets = [...this.streams.values()].map((e) => e.ws?.readyState);
    const next =
      state ??
      (sockets.includes(WebSocket.OPEN) ? 'connected' : sockets.includes(WebSocket.CONNECTING) ? 'connecting' : 'disconnected');
    if (this.status.value !== next) this.status.next(next);
  }

  getConnectionStatus() {
    return this.status.asObservable();
  }

  getRetryDelayPreview(attempt) {
    const cap = Math.min(this.maxRetryDelay, this.baseRetryDelay * 2 ** attempt);
    return { attempt, cap, delay: Math.random() * cap };
  }

  forceCleanupIdleStreams(idleTimeoutMs = this.idleTimeoutMs) {
    const now = Date.now();
    let cleaned = 0;
    for (const [name, entry] of [...this.streams]) {
      if (now - entry.lastActivity >= idleTimeoutMs) {
        this.close(name, true);
        cleaned += 1;
      }
    }
    return cleaned;
  }

  getActiveStreamsCount() {
    return this.streams.size;
  }

  getStreamInfo() {
    return [...this.streams].map(([name, e]) => ({ name, subscribers: e.refCount, lastActivity: e.lastActivity }));
  }

  getMetrics() {
    const m = this.metrics;
    return {
      implementation: 'WSManager',
      activeConnections: m.activeConnections,
      retryCount: m.retryCount,
      streamCreations: m.streamCreations,
      streamCleanups: m.streamCleanups,
      activeConnectionsHighWaterMark: m.hwm,
      activeStreams: this.streams.size,
    };
  }

  getPrometheusMetrics() {
    const m = this.getMetrics();
    return [
      `ws_manager_active_connections ${m.activeConnections}`,
      `ws_manager_retry_count_total ${m.retryCount}`,
      `ws_manager_stream_creations_total ${m.streamCreations}`,
      `ws_manager_stream_cleanups_total ${m.streamCleanups}`,
      `ws_manager_active_connections_hwm ${m.activeConnectionsHighWaterMark}`,
      '',
    ].join('\n');
  }

  destroy() {
    clearInterval(this.sweep);
    for (const name of [...this.streams.keys()]) this.close(name, false);
    this.status.complete();
  }
}

module.exports = { WSManager };
