#!/usr/bin/env node
'use strict';
// The example managers behind the wschaos adapter protocol:
//   node adapters/node/run.js
// runs `legacy`, `wsmanager` and `migration-layer` (getBinanceConnection(), switched by USE_NEW_WS_MANAGER),
// whichever each `client` command names. A team's own adapter is the same few lines around its managers.

const { runAdapter } = require('./lib/adapter');
const { LegacyConnectionManager } = require('./examples/legacy');
const { WSManager } = require('./examples/wsmanager');
const { createConnectionLayer } = require('./examples/connection');

runAdapter({
  name: 'wschaos-node-examples 0.1.0',
  implementations: {
    legacy: (options) => new LegacyConnectionManager(options),
    wsmanager: (options) => new WSManager(options),
    'migration-layer': (options) => createConnectionLayer(options),
  },
  // A migration layer's factory returns `{ getBinanceConnection, connectionMigration }`: a rehearsal moves
  // its clients with `migrate` (the flag flip).
  migrations: ['migration-layer'],
});
