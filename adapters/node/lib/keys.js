'use strict';
// The key a delivery is identified by in the adapter protocol: the message's own sequence id where its kind
// has one, `null` otherwise (the harness then identifies it by its event time `E`).

/**
 * `t` of a trade, `a` of an aggTrade, `u` of a depth update or a bookTicker (which has no `e`),
 * `lastUpdateId` of a partial depth; `null` for klines, tickers and the rest.
 */
function identifyingKey(data) {
  if (data === null || typeof data !== 'object') return null;
  switch (data.e) {
    case 'trade':
      return numberOrNull(data.t);
    case 'aggTrade':
      return numberOrNull(data.a);
    case 'depthUpdate':
      return numberOrNull(data.u);
    case undefined:
      if (data.lastUpdateId !== undefined) return numberOrNull(data.lastUpdateId);
      if (data.u !== undefined && data.b !== undefined && data.a !== undefined) return numberOrNull(data.u);
      return null;
    default:
      return null;
  }
}

function numberOrNull(value) {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

module.exports = { identifyingKey };
