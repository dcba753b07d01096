'use strict';
// The demo's "preview renderer": a tiny plain-node HTTP service the demo app
// calls for each project page. It signs a short-lived thumbnail URL (a little
// CPU work, like a real renderer's cache lookup). Run it with the preload too,
// so a project page's trace spans both services.
const crypto = require('node:crypto');
const http = require('node:http');

const PORT = Number(process.env.PORT ?? 3001);
const HOST = process.env.HOST || '127.0.0.1';
const SIZES = { thumb: [320, 200], large: [1280, 800] };
const SIGNING_KEY = crypto.randomBytes(32);

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://preview.local');
  if (req.method === 'GET' && url.pathname === '/up') return send(res, 200, { ok: true });
  const match = /^\/render\/(\d+)$/.exec(url.pathname);
  if (req.method !== 'GET' || !match) return send(res, 404, { error: 'not found' });
  const size = url.searchParams.get('size') || 'thumb';
  if (!SIZES[size]) return send(res, 400, { error: `size must be one of ${Object.keys(SIZES).join(', ')}` });
  const [width, height] = SIZES[size];
  const expires = Math.floor(Date.now() / 1000) + 600;
  const path = `/previews/${match[1]}/${size}.png`;
  const signature = crypto.createHmac('sha256', SIGNING_KEY).update(`${path}:${expires}`).digest('hex').slice(0, 32);
  send(res, 200, { projectId: Number(match[1]), size, width, height, url: `${path}?expires=${expires}&sig=${signature}` });
});

server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${server.address().port}`);
});
