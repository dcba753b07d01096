'use strict';
// Preload for bench/run.mjs's bare-context variants: the least any tracer does
// for every request, with no span, sampler or exporter: each request's
// listeners run inside AsyncLocalStorage#run, so the request's context follows
// its callbacks and promises. On Node 20 that turns on async_hooks for the
// whole process; from Node 24 it is an AsyncContextFrame. It measures the floor
// that sidetrace and the stock register both stand on.
// SIDE_URL set: also the outgoing POSTs of bench/lib/side-traffic.cjs.
const http = require('node:http');
const { AsyncLocalStorage } = require('node:async_hooks');

const storage = new AsyncLocalStorage();
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req) {
  if (event !== 'request') return emit.apply(this, arguments);
  return storage.run({ req }, Reflect.apply, emit, this, arguments);
};
if (process.env.SIDE_URL) require('./side-traffic.cjs');
