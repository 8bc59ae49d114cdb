'use strict';
// An example of the migration layer the seeds describe (000, 003): `getBinanceConnection()` hands out the
// legacy API, `subscribe(stream, callback) -> unsubscribe()`, backed by WSManager when `USE_NEW_WS_MANAGER`
// is "true" and by the legacy manager otherwise; `connectionMigration` switches at run time.

const { LegacyConnectionManager } = require('./legacy');
const { WSManager } = require('./wsmanager');

/** A migration layer for one app instance: its legacy manager, its WSManager and the switch between them. */
function createConnectionLayer(options, env = process.env) {
  const legacy = new LegacyConnectionManager(options);
  const wsmanager = new WSManager(options);
  let current = env.USE_NEW_WS_MANAGER === 'true' ? 'WSManager' : 'Legacy';

  const shim = {
    subscribe(stream, callback) {
      if (current === 'Legacy') return legacy.subscribe(stream, callback);
      const subscription = wsmanager.subscribe(stream).subscribe({ next: callback, error: () => {} });
      return () => subscription.unsubscribe();
    },
    getConnectionStatus() {
      return current === 'Legacy' ? legacy.getConnectionStatus() : wsmanager.getConnectionStatus();
    },
    getMetrics() {
      return current === 'Legacy' ? legacy.getMetrics() : wsmanager.getMetrics();
    },
    disconnect() {
      legacy.disconnect();
      wsmanager.destroy();
    },
  };

  const connectionMigration = {
    enableWSManager() {
      current = 'WSManager';
    },
    enableLegacy() {
      current = 'Legacy';
    },
    getCurrentImplementation() {
      return current;
    },
  };

  return { getBinanceConnection: () => shim, connectionMigration };
}

module.exports = { createConnectionLayer };
