// For the cost ladder (bench/run.mjs --only ladder): what Node 20 charges for
// context propagation alone. Enables an AsyncLocalStorage the way the
// OpenTelemetry context manager does, and nothing else.
const { AsyncLocalStorage } = require('node:async_hooks');
const storage = new AsyncLocalStorage();
storage.enterWith({});
// Every request runs inside storage.run, as under the http instrumentation.
const http = require('node:http');
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') return storage.run({}, () => emit.call(this, event, ...args));
  return emit.call(this, event, ...args);
};
