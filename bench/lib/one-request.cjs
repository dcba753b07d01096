'use strict';
// One request at a time through http.Server#emit('request') into an express
// hello-world, with no socket: IncomingMessage and ServerResponse are built in
// process, so what is measured is the server hook, the sampler, the span and
// the express route hook, not the kernel. Prints the CPU µs per request.
// Run by bench/request-path.mjs under each preload.
// BENCH_APP=plain: a bare node:http handler instead of express.
// BENCH_MIX: one request in ten is `recorded` (to /health, a path the noise
// policy records but never exports) or `sampled` (its caller sent a sampled
// traceparent, so it is recorded and exported whatever the ratio).
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');

function expressApp() {
  const app = require('express')();
  app.get(['/hello', '/health'], (_req, res) => res.send('hello world'));
  return app;
}
const plain = (_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello world');
};
const server = http.createServer(process.env.BENCH_APP === 'plain' ? plain : expressApp());
const N = Number(process.env.BENCH_REQUESTS || 100000);
const WARMUP = 20000;
const MIX = process.env.BENCH_MIX;
let seq = 0;

function one() {
  const req = new http.IncomingMessage(new net.Socket());
  const tenth = MIX !== undefined && seq++ % 10 === 0;
  req.method = 'GET';
  req.url = tenth && MIX === 'recorded' ? '/health' : '/hello';
  req.headers = { host: '127.0.0.1:3000', 'user-agent': 'bench', connection: 'keep-alive' };
  if (tenth && MIX === 'sampled') req.headers.traceparent = `00-${crypto.randomBytes(16).toString('hex')}-00f067aa0ba902b7-01`;
  req.rawHeaders = ['host', '127.0.0.1:3000', 'user-agent', 'bench', 'connection', 'keep-alive'];
  req.httpVersion = '1.1';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.complete = true;
  req.push(null);
  const res = new http.ServerResponse(req);
  server.emit('request', req, res);
  // What the socket would make node emit once the response is written.
  res.emit('finish');
  res.emit('close');
  req.emit('close');
}

for (let i = 0; i < WARMUP; i++) one();
const cpu0 = process.cpuUsage();
let done = 0;
// Batches yield to the event loop, so the batch span processor's timers and exports run as in a service.
// Smaller batches (BENCH_PER_TURN) give exports to a real sink the turns they need to keep up.
const PER_TURN = Number(process.env.BENCH_PER_TURN || 1000);
(function batch() {
  for (let k = 0; k < PER_TURN; k++) one();
  done += PER_TURN;
  if (done < N) return void setImmediate(batch);
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuUsPerRequest: (cpu.user + cpu.system) / done }));
  process.exit(0);
})();
