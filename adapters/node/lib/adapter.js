'use strict';
// The wschaos adapter protocol, version 1, in front of any manager with the seeds' APIs: the legacy
// `subscribe(stream, callback) -> unsubscribe()` and WSManager's `subscribe(stream) -> Observable`.
//
// wschaos writes one JSON command per line on stdin (init, client, subscribe, unsubscribe, metrics, stop);
// this writes one JSON report per line on stdout (ready, deliveries, status, metrics, error, stopped). Logs go
// to stderr: stdout carries nothing but reports. See the README's "External managers" section.

const readline = require('node:readline');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { identifyingKey } = require('./keys');

const PROTOCOL = 1;
const ADAPTER = 'wschaos-node 0.1.0';
// Rows per deliveries line at most, so one line stays small even at a high rate.
const MAX_ROWS = 2000;
// The event-loop delay histogram's timer (ms): each sample is the time between two of its firings, so the
// lag is a sample less this.
const LAG_RESOLUTION_MS = 10;

/** Wall-clock microseconds since the Unix epoch, with sub-millisecond resolution. */
function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function write(report) {
  process.stdout.write(JSON.stringify(report) + '\n');
}

/**
 * Reports the event loop's lag once a second (`lag`: p99 and max since `init`, µs): a process whose loop
 * lags cannot deliver on time, whatever its managers do, and wschaos says so instead of blaming them.
 */
function reportLag() {
  const histogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  histogram.enable();
  const lagMicros = (ns) => Math.max(0, Math.round(ns / 1000 - LAG_RESOLUTION_MS * 1000));
  return setInterval(() => {
    if (histogram.count > 0) {
      write({ type: 'lag', p99_us: lagMicros(histogram.percentile(99)), max_us: lagMicros(histogram.max) });
    }
  }, 1000);
}

/**
 * Runs the protocol loop until `stop` (or stdin ends).
 *
 * `implementations` maps the names a scenario may use to factories. A factory gets
 * `{ url, upstream, localAddress, timeUnit, client }` (`url` is the upstream's `/ws/` base, as the seeds'
 * managers are configured; `localAddress` the client's own loopback source address, for the `ws` package's
 * `localAddress` option) and returns a manager: an object whose `subscribe(stream, callback)` returns either
 * an unsubscribe function (legacy) or an Observable (WSManager), and optionally `getMetrics()`,
 * `getConnectionStatus()` (an Observable of 'connecting' | 'connected' | 'disconnected') and
 * `destroy()` or `disconnect()`.
 */
function runAdapter({ implementations, name = ADAPTER, input = process.stdin }) {
  const clients = new Map();
  let init = null;
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let flushTimer = null;
  let lagTimer = null;

  const flushAll = () => {
    for (const [id, client] of clients) flush(id, client);
  };
  const flush = (id, client) => {
    while (client.rows.length > 0) {
      write({ type: 'deliveries', client: id, rows: client.rows.splice(0, MAX_ROWS) });
    }
  };

  const handlers = {
    init(command) {
      init = command;
      flushTimer = setInterval(flushAll, Math.max(1, command.batch_ms || 50));
      lagTimer = reportLag();
      write({ type: 'ready', protocol: PROTOCOL, adapter: name, implementations: Object.keys(implementations) });
    },
    client(command) {
      const factory = implementations[command.implementation];
      if (!factory) {
        write({ type: 'error', client: command.client, message: `no implementation named ${command.implementation}` });
        return;
      }
      const manager = factory({
        url: `${init.upstream}/ws/`,
        upstream: init.upstream,
        localAddress: command.source,
        timeUnit: init.time_unit,
        client: command.client,
      });
      const client = { manager, rows: [], subscriptions: new Map(), statusSub: null };
      clients.set(command.client, client);
      if (typeof manager.getConnectionStatus === 'function') {
        const status = manager.getConnectionStatus();
        if (status && typeof status.subscribe === 'function') {
          client.statusSub = status.subscribe((state) => write({ type: 'status', client: command.client, state }));
        }
      }
    },
    subscribe(command) {
      const client = clients.get(command.client);
      if (!client) return;
      const key = `${command.subscriber} ${command.stream}`;
      if (client.subscriptions.has(key)) return;
      const onData = (data) => {
        client.rows.push([
          command.subscriber,
          command.stream,
          identifyingKey(data),
          typeof data?.E === 'number' ? data.E : null,
          nowMicros(),
        ]);
        if (client.rows.length >= MAX_ROWS) flush(command.client, client);
      };
      // An error or a completion ends the subscription: a later subscribe of the same pair starts afresh.
      const onError = (error) => {
        client.subscriptions.delete(key);
        write({
          type: 'error',
          client: command.client,
          subscriber: command.subscriber,
          stream: command.stream,
          message: String(error?.message ?? error),
        });
      };
      const onComplete = () => {
        client.subscriptions.delete(key);
        write({ type: 'status', client: command.client, stream: command.stream, state: 'completed' });
      };
      const returned = client.manager.subscribe(command.stream, onData);
      if (typeof returned === 'function') {
        client.subscriptions.set(key, returned);
      } else if (returned && typeof returned.subscribe === 'function') {
        const subscription = returned.subscribe({ next: onData, error: onError, complete: onComplete });
        client.subscriptions.set(key, () => subscription.unsubscribe());
      } else {
        onError(new Error('subscribe() returned neither an unsubscribe function nor an Observable'));
      }
    },
    unsubscribe(command) {
      const client = clients.get(command.client);
      const key = `${command.subscriber} ${command.stream}`;
      const unsubscribe = client?.subscriptions.get(key);
      if (!unsubscribe) return;
      client.subscriptions.delete(key);
      unsubscribe();
    },
    metrics(command) {
      const client = clients.get(command.client);
      if (client && typeof client.manager.getMetrics === 'function') {
        write({ type: 'metrics', client: command.client, metrics: client.manager.getMetrics() });
      }
    },
    stop() {
      flushAll();
      for (const [id, client] of clients) {
        if (typeof client.manager.getMetrics === 'function') {
          write({ type: 'metrics', client: id, metrics: client.manager.getMetrics() });
        }
        for (const unsubscribe of client.subscriptions.values()) unsubscribe();
        client.statusSub?.unsubscribe();
        if (typeof client.manager.destroy === 'function') client.manager.destroy();
        else if (typeof client.manager.disconnect === 'function') client.manager.disconnect();
      }
      flushAll();
      clearInterval(flushTimer);
      clearInterval(lagTimer);
      write({ type: 'stopped' });
      lines.close();
      // Let stdout drain, then leave even if a manager left a timer behind.
      process.stdout.write('', () => process.exit(0));
    },
  };

  lines.on('line', (line) => {
    let command;
    try {
      command = JSON.parse(line);
    } catch (e) {
      console.error(`wschaos adapter: not JSON: ${line.slice(0, 200)}`);
      return;
    }
    const handler = handlers[command.type];
    if (!handler) {
      console.error(`wschaos adapter: unknown command ${command.type}`);
      return;
    }
    if (command.type !== 'init' && init === null) {
      console.error('wschaos adapter: a command before init');
      return;
    }
    handler(command);
  });
  // wschaos gone (stdin closed without a stop): stop as if told to, so no manager keeps reconnecting.
  let stopping = false;
  const stop = handlers.stop;
  handlers.stop = (command) => {
    if (stopping) return;
    stopping = true;
    stop(command);
  };
  lines.on('close', () => handlers.stop({ type: 'stop' }));
}

module.exports = { runAdapter, nowMicros, PROTOCOL };
