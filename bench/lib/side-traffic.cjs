'use strict';
// Preload for bench/run.mjs's *-client variants: the app also makes one small
// outgoing POST every 100 ms (to SIDE_URL), as a batch exporter does, with no
// span or tracing involved; SIDE_INNER names a preload to run first (sidetrace's).
// It shows what a process pays for having outgoing HTTP traffic at all.
if (process.env.SIDE_INNER) require(process.env.SIDE_INNER);
const http = require('node:http');

const agent = new http.Agent({ keepAlive: true });
const body = Buffer.alloc(2000, 1);
setInterval(() => {
  const req = http.request(`${process.env.SIDE_URL}/v1/traces`, {
    method: 'POST',
    agent,
    headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
  });
  req.on('response', (res) => res.resume());
  req.on('error', () => {});
  req.end(body);
}, 100).unref();
