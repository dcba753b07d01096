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
// BENCH_SIDE: one outgoing 20 kB POST to OTEL_EXPORTER_OTLP_ENDPOINT every
// 5,000 requests, nothing traced: `http` (http.request on this thread) or
// `worker` (the same from a worker thread).
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

const SIDE_BODY = Buffer.alloc(20000, 1);
const SIDE_URL = `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`;
const agent = new http.Agent({ keepAlive: true });
function post(url, body) {
  const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } });
  req.on('response', (res) => res.resume());
  req.on('error', () => {});
  req.end(body);
}
let side;
if (process.env.BENCH_SIDE === 'http') side = () => post(SIDE_URL, SIDE_BODY);
// fetch (undici) shares no objects with the server's http module (IncomingMessage, OutgoingMessage, the parser).
if (process.env.BENCH_SIDE === 'fetch')
  side = () =>
    fetch(SIDE_URL, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: SIDE_BODY }).then(
      (res) => res.arrayBuffer(),
      () => {},
    );
if (process.env.BENCH_SIDE === 'worker') {
  const { Worker } = require('node:worker_threads');
  // The worker runs the same post(), with its own http and agent.
  const source = `const http = require('node:http');
const agent = new http.Agent({ keepAlive: true });
${post}
require('node:worker_threads').parentPort.on('message', ({ url, body }) => post(url, Buffer.from(body)));`;
  const worker = new Worker(source, { eval: true });
  worker.unref();
  side = () => worker.postMessage({ url: SIDE_URL, body: SIDE_BODY });
}
let posts = 0;

function one() {
  if (side !== undefined && posts++ % 5000 === 0) side();
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
