// A lightweight OTLP/HTTP trace sink for the benchmarks, run as its own
// process so its work does not share the load generator's event loop. It
// answers like a collector and counts what really arrives (requests, bytes on
// the wire, spans), walking the protobuf framing instead of decoding it
// (countSpans, test/helpers/otlp-decode.mjs), so it costs little CPU on a
// machine the app under test shares.
//
//   node bench/lib/otlp-sink.mjs [--hang]
//   → prints "listening on http://127.0.0.1:PORT"
//   GET /stats → {"requests":n,"bytes":n,"spans":n}; POST /reset zeroes them.
//   --hang: accepts trace exports and never answers (a hung collector).
import http from 'node:http';
import zlib from 'node:zlib';
import { countSpans } from '../../test/helpers/otlp-decode.mjs';

export function startSink({ hang = false, port = 0 } = {}) {
  const stats = { requests: 0, bytes: 0, spans: 0, undecodable: 0 };
  const hung = new Set();
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/stats') {
      res.end(JSON.stringify(stats));
      return;
    }
    if (req.method === 'POST' && req.url === '/reset') {
      Object.assign(stats, { requests: 0, bytes: 0, spans: 0, undecodable: 0 });
      res.end('{}');
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const wire = Buffer.concat(chunks);
      stats.requests++;
      stats.bytes += wire.length;
      if (hang) {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      try {
        const body = req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(wire) : wire;
        stats.spans += countSpans(body, String(req.headers['content-type']));
      } catch {
        stats.undecodable++;
      }
      res.writeHead(200, { 'content-type': req.headers['content-type'] || 'application/x-protobuf' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
        stats,
        close: () =>
          new Promise((r) => {
            for (const res of hung) res.destroy();
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sink = await startSink({ hang: process.argv.includes('--hang') });
  console.log(`listening on ${sink.url}`);
  const stop = () => sink.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}
