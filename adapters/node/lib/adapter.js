'use strict';
// The wschaos adapter protocol, version 1, in front of any manager with the seeds' APIs: the legacy
// `subscribe(stream, callback) -> unsubscribe()` and WSManager's `subscribe(stream) -> Observable`.
//
// wschaos writes one JSON command per line on stdin (init, client, subscribe, unsubscribe, migrate, metrics,
// stop); this writes one JSON report per line on stdout (ready, deliveries, status, metrics, error, lag,
// migrated, stopped). Logs go to stderr: stdout carries nothing but reports. See the README's "External
// managers" section.

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
 * `migrations` names the implementations that are migration layers: their factory returns
 * `{ getBinanceConnection, connectionMigration }` (the seeds' `@/lib/ws`), and a `migrate` command flips the
 * client's flag (`connectionMigration.enableWSManager()` or `enableLegacy()`) and subscribes every subscriber
 * again through `getBinanceConnection()`, as an app does when its flag changes: make-before-break ends the
 * old subscriptions once each new one has received (or the command's deadline passed), break-before-make
 * ends them first. Each delivery line then names the side that made it.
 *
 * `implementations` maps the names a scenario may use to factories. A factory gets
 * `{ url, upstream, localAddress, timeUnit, client }` (`url` is the upstream's `/ws/` base, as the seeds'
 * managers are configured; `localAddress` the client's own loopback source address, for the `ws` package's
 * `localAddress` option) and returns a manager: an object whose `subscribe(stream, callback)` returns either
 * an unsubscribe function (legacy) or an Observable (WSManager), and optionally `getMetrics()`,
 * `getConnectionStatus()` (an Observable of 'connecting' | 'connected' | 'disconnected') and
 * `destroy()` or `disconnect()`.
 */
function runAdapter({ implementations, migrations = [], name = ADAPTER, input = process.stdin }) {
  const clients = new Map();
  let init = null;
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let flushTimer = null;
  let lagTimer = null;

  const flushAll = () => {
    for (const [id, client] of clients) flush(id, client);
  };
  const flush = (id, client) => {
    for (const [side, rows] of client.rows) {
      while (rows.length > 0) {
        const line = { type: 'deliveries', client: id, rows: rows.splice(0, MAX_ROWS) };
        if (side !== null) line.side = side;
        write(line);
      }
    }
  };
  const rowsOf = (client, side) => {
    let rows = client.rows.get(side);
    if (!rows) {
      rows = [];
      client.rows.set(side, rows);
    }
    return rows;
  };

  // Subscribes `subscriber` to `stream` on the client's current side; `onFirst` runs at its first delivery.
  const open = (id, client, subscriber, stream, onFirst = null) => {
    const key = `${subscriber} ${stream}`;
    const side = client.side;
    const rows = rowsOf(client, side);
    let first = onFirst;
    const entry = { subscriber, stream, unsubscribe: () => {} };
    const onData = (data) => {
      rows.push([subscriber, stream, identifyingKey(data), typeof data?.E === 'number' ? data.E : null, nowMicros()]);
      if (rows.length >= MAX_ROWS) flush(id, client);
      if (first) {
        const call = first;
        first = null;
        call(key);
      }
    };
    // An error or a completion ends the subscription: a later subscribe of the same pair starts afresh.
    const forget = () => {
      if (client.subscriptions.get(key) === entry) client.subscriptions.delete(key);
    };
    const onError = (error) => {
      forget();
      write({ type: 'error', client: id, subscriber, stream, message: String(error?.message ?? error) });
    };
    const onComplete = () => {
      forget();
      write({ type: 'status', client: id, stream, state: 'completed' });
    };
    client.subscriptions.set(key, entry);
    const returned = client.manager.subscribe(stream, onData);
    if (typeof returned === 'function') {
      entry.unsubscribe = returned;
    } else if (returned && typeof returned.subscribe === 'function') {
      const subscription = returned.subscribe({ next: onData, error: onError, complete: onComplete });
      entry.unsubscribe = () => subscription.unsubscribe();
    } else {
      onError(new Error('subscribe() returned neither an unsubscribe function nor an Observable'));
    }
  };

  const flip = (client, side) => {
    if (side === 'new') client.migration.enableWSManager();
    else client.migration.enableLegacy();
    client.side = side;
  };

  const handlers = {
    init(command) {
      init = command;
      flushTimer = setInterval(flushAll, Math.max(1, command.batch_ms || 50));
      lagTimer = reportLag();
      const ready = { type: 'ready', protocol: PROTOCOL, adapter: name, implementations: Object.keys(implementations) };
      if (migrations.length > 0) ready.migrations = migrations;
      write(ready);
    },
    client(command) {
      const factory = implementations[command.implementation];
      if (!factory) {
        write({ type: 'error', client: command.client, message: `no implementation named ${command.implementation}` });
        return;
      }
      const made = factory({
        url: `${init.upstream}/ws/`,
        upstream: init.upstream,
        localAddress: command.source,
        timeUnit: init.time_unit,
        client: command.client,
      });
      const layer = migrations.includes(command.implementation) ? made : null;
      const manager = layer ? layer.getBinanceConnection() : made;
      const migration = layer ? layer.connectionMigration : null;
      const client = { manager, migration, side: null, rows: new Map(), subscriptions: new Map(), statusSub: null };
      clients.set(command.client, client);
      // A rehearsal says which side a client starts on; otherwise the layer's own flag decides.
      if (migration && command.side) flip(client, command.side);
      else if (migration) client.side = migration.getCurrentImplementation?.() === 'WSManager' ? 'new' : 'legacy';
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
      if (client.subscriptions.has(`${command.subscriber} ${command.stream}`)) return;
      open(command.client, client, command.subscriber, command.stream);
    },
    unsubscribe(command) {
      const client = clients.get(command.client);
      const key = `${command.subscriber} ${command.stream}`;
      const entry = client?.subscriptions.get(key);
      if (!entry) return;
      client.subscriptions.delete(key);
      entry.unsubscribe();
    },
    migrate(command) {
      const id = command.client;
      const client = clients.get(id);
      if (!client) return;
      if (!client.migration) {
        write({ type: 'error', client: id, message: 'its implementation is not a migration layer: it cannot migrate' });
        return;
      }
      const old = [...client.subscriptions.values()];
      client.subscriptions = new Map();
      const migrated = () => {
        const implementation = client.migration.getCurrentImplementation?.();
        write({ type: 'migrated', client: id, to: client.side, ...(implementation ? { implementation } : {}) });
      };
      if (command.order === 'break-before-make') {
        for (const entry of old) entry.unsubscribe();
        flip(client, command.to);
        for (const entry of old) open(id, client, entry.subscriber, entry.stream);
        // The old side's rows go before the answer that ends its subscriptions.
        flush(id, client);
        migrated();
        return;
      }
      flip(client, command.to);
      const waiting = new Set(old.map((entry) => `${entry.subscriber} ${entry.stream}`));
      let timer = null;
      const finish = () => {
        if (timer === undefined) return;
        clearTimeout(timer);
        timer = undefined;
        flush(id, client);
        for (const entry of old) entry.unsubscribe();
        migrated();
      };
      timer = setTimeout(finish, Math.max(0, command.deadline_ms ?? 10000));
      const received = (key) => {
        waiting.delete(key);
        if (waiting.size === 0) finish();
      };
      for (const entry of old) open(id, client, entry.subscriber, entry.stream, received);
      if (waiting.size === 0) finish();
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
        for (const entry of client.subscriptions.values()) entry.unsubscribe();
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
