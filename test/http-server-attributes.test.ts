// The server span's request attributes (src/instrumentations/http-server/attributes.ts)
// against upstream instrumentation-http's own builder, on real requests: raw
// request lines and headers sent over a socket to a real node:http server, both
// builders run on the IncomingMessage node parsed. The matrix holds the common
// requests the fast path builds and the odd ones it must hand to upstream's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { diag } from '@opentelemetry/api';
import { requestAttributes } from '../src/instrumentations/http-server/attributes';

const upstream = require('@opentelemetry/instrumentation-http/build/src/utils') as {
  getIncomingRequestAttributes(req: IncomingMessage, options: object, logger: typeof diag): Record<string, unknown>;
};

type Seen = { ours: Record<string, unknown>; theirs: Record<string, unknown> };
const REDACT = ['token', 'sig'];
let server: http.Server;
let port = 0;
let seen: Seen | undefined;

before(async () => {
  server = http.createServer((req, res) => {
    seen = {
      ours: requestAttributes(req, 'http', REDACT),
      theirs: upstream.getIncomingRequestAttributes(req, { component: 'http', redactedQueryParams: REDACT, enableSyntheticSourceDetection: false }, diag),
    };
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** Sends one raw request and waits for the response. */
function send(requestLine: string, headers: string[]): Promise<Seen> {
  seen = undefined;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${requestLine}\r\n${headers.join('\r\n')}\r\nconnection: close\r\n\r\n`));
    socket.on('error', reject);
    socket.resume();
    socket.on('close', () => (seen ? resolve(seen) : reject(new Error(`no request reached the server for ${requestLine}`))));
  });
}

const HOST = () => `host: 127.0.0.1:${port}`;
const MATRIX: [string, () => string[]][] = [
  ['GET /hello HTTP/1.1', () => [HOST(), 'user-agent: autocannon']],
  ['GET / HTTP/1.1', () => [HOST()]],
  ['POST /users/42/orders HTTP/1.1', () => [HOST(), 'user-agent: curl/8', 'content-length: 0']],
  ['GET /static/app.min.js HTTP/1.0', () => ['host: example.com']],
  ['GET /search?q=shoes&page=2 HTTP/1.1', () => [HOST()]],
  ['GET /cb?token=abc&sig=x&keep=1 HTTP/1.1', () => [HOST()]],
  ['GET /x? HTTP/1.1', () => [HOST()]],
  ['GET /q?a=b+c&d=%20e&f HTTP/1.1', () => [HOST()]],
  ['GET /q?a=it%27s&b={x}|y HTTP/1.1', () => [HOST()]],
  ["GET /q?a=it's HTTP/1.1", () => [HOST()]],
  ['GET /a/./b/../c HTTP/1.1', () => [HOST()]],
  ['GET /a/%2e%2E/c HTTP/1.1', () => [HOST()]],
  ['GET /a%20b/%zz/~user HTTP/1.1', () => [HOST()]],
  ['GET /a\\b HTTP/1.1', () => [HOST()]],
  ['GET //evil.example/path HTTP/1.1', () => [HOST()]],
  ['GET /frag#x HTTP/1.1', () => [HOST()]],
  ['GET /{braces}^`| HTTP/1.1', () => [HOST()]],
  ['GET http://other.example:8080/abs?x=1 HTTP/1.1', () => [HOST()]],
  ['OPTIONS * HTTP/1.1', () => [HOST()]],
  ['PURGE /cache HTTP/1.1', () => [HOST()]],
  ['QUERY /q HTTP/1.1', () => [HOST()]],
  ['GET /nohost HTTP/1.0', () => []],
  ['GET /h HTTP/1.1', () => ['host: Example.COM']],
  ['GET /h HTTP/1.1', () => ['host: example.com:443']],
  ['GET /h HTTP/1.1', () => ['host: [::1]:8080']],
  ['GET /h HTTP/1.1', () => ['host: 1.2.3.999']],
  ['GET /h HTTP/1.1', () => ['host: 09.1.1.1']],
  ['GET /h HTTP/1.1', () => ['host: example.com:99999']],
  ['GET /h HTTP/1.1', () => ['host: example.com:']],
  ['GET /h HTTP/1.1', () => ['host: a_b.example']],
  ['GET /h HTTP/1.1', () => [HOST(), 'x-forwarded-for: 203.0.113.7, 10.0.0.1']],
  ['GET /h HTTP/1.1', () => [HOST(), 'x-forwarded-host: api.example.com', 'x-forwarded-proto: https']],
  ['GET /h HTTP/1.1', () => [HOST(), 'forwarded: for=198.51.100.17;host=shop.example;proto=https']],
];

describe('server span request attributes', () => {
  it('equal upstream instrumentation-http getIncomingRequestAttributes for every request of the matrix', async () => {
    for (const [line, headers] of MATRIX) {
      const { ours, theirs } = await send(line, headers());
      assert.deepEqual(ours, theirs, `${line} [${headers().join('; ')}]`);
      // Same keys in the same order: the exported attribute list reads the same either way.
      assert.deepEqual(Object.keys(ours), Object.keys(theirs), `key order for ${line}`);
    }
  });

  it('builds the common request itself (a plain path, query and host give the stable attributes)', async () => {
    const { ours } = await send('GET /users/7?page=2&token=secret HTTP/1.1', [HOST(), 'user-agent: probe']);
    assert.equal(ours['url.path'], '/users/7');
    assert.equal(ours['url.query'], 'page=2&token=REDACTED');
    assert.equal(ours['server.port'], port);
    assert.equal(ours['user_agent.original'], 'probe');
  });
});
