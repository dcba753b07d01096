'use strict';
// The sidetrace demo app: a small, ordinary express service (users, projects
// with image previews) on PostgreSQL and Redis that calls a preview renderer
// over HTTP. It knows nothing about sidetrace: run it with
//   node --require sidetrace/preload examples/demo/app.js
const crypto = require('node:crypto');
const path = require('node:path');
const express = require('express');
const { Redis } = require('ioredis');
const { createPool, migrate } = require('./db');
const { createQueue } = require('./jobs');

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST || '127.0.0.1';
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREVIEW_URL = process.env.PREVIEW_URL || 'http://127.0.0.1:3001';
const CACHE_TTL_S = 300;

const db = createPool(DATABASE_URL);
const cache = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
cache.on('error', (err) => console.error(`cache: ${err.message}`));
const jobs = createQueue();

const app = express();
app.disable('x-powered-by');

// Express 4 does not catch rejected promises from handlers.
const route = (handler) => (req, res, next) => handler(req, res, next).catch(next);

function parseId(value) {
  const id = Number(value);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

app.use((req, res, next) => {
  res.set('X-Request-Id', req.get('X-Request-Id') || crypto.randomUUID());
  next();
});

app.get('/up', (req, res) => res.send('ok'));
app.use('/assets', express.static(path.join(__dirname, 'public', 'assets'), { maxAge: '1h' }));
app.get('/favicon.ico', (req, res) => res.sendFile(path.join(__dirname, 'public', 'favicon.ico')));
app.use(express.json());

app.get(
  '/',
  route(async (req, res) => {
    const { rows } = await db.query(
      `SELECT p.id, p.name, u.name AS owner FROM projects p JOIN users u ON u.id = p.owner_id
       ORDER BY p.id DESC LIMIT 20`,
    );
    const items = rows.map((p) => `<li><a href="/projects/${p.id}">${escapeHtml(p.name)}</a><span class="owner">${escapeHtml(p.owner)}</span></li>`).join('\n');
    res.type('html').send(`<!doctype html>
<html><head><title>Projects</title><link rel="stylesheet" href="/assets/app.css"><link rel="icon" href="/favicon.ico"></head>
<body><h1>Recent projects</h1><ul class="projects">
${items}
</ul></body></html>`);
  }),
);

app.get(
  '/users',
  route(async (req, res) => {
    const { rows } = await db.query('SELECT id, name, email FROM users ORDER BY id LIMIT 50');
    res.json(rows);
  }),
);

app.get(
  '/users/:id',
  route(async (req, res) => {
    const id = parseId(req.params.id);
    if (!id) return res.status(400).json({ error: 'id must be a positive integer' });
    const cached = await cache.get(`user:${id}`);
    if (cached) return res.json(JSON.parse(cached));
    const { rows } = await db.query(
      `SELECT u.id, u.name, u.email, count(p.id)::int AS projects
       FROM users u LEFT JOIN projects p ON p.owner_id = u.id WHERE u.id = $1 GROUP BY u.id`,
      [id],
    );
    if (rows.length === 0) return res.status(404).json({ error: 'user not found' });
    await cache.set(`user:${id}`, JSON.stringify(rows[0]), 'EX', CACHE_TTL_S);
    res.json(rows[0]);
  }),
);

app.post(
  '/projects',
  route(async (req, res) => {
    const { name, ownerId } = req.body ?? {};
    if (typeof name !== 'string' || !name.trim() || !parseId(ownerId)) {
      return res.status(400).json({ error: 'expected {"name": string, "ownerId": positive integer}' });
    }
    const client = await db.connect();
    let project;
    try {
      await client.query('BEGIN');
      const inserted = await client.query('INSERT INTO projects (owner_id, name) VALUES ($1, $2) RETURNING id, owner_id AS "ownerId", name', [
        ownerId,
        name.trim(),
      ]);
      project = inserted.rows[0];
      await client.query(`INSERT INTO previews (project_id, size) VALUES ($1, 'thumb'), ($1, 'large')`, [project.id]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (err.code === '23503') return res.status(422).json({ error: 'owner does not exist' });
      throw err;
    } finally {
      client.release();
    }
    // The owner's project count changed.
    await cache.del(`user:${project.ownerId}`);
    res.status(201).location(`/projects/${project.id}`).json(project);
  }),
);

/** The preview renderer signs a short-lived thumbnail URL; without it the page still renders, just without a preview. */
async function fetchPreview(projectId) {
  try {
    const response = await fetch(`${PREVIEW_URL}/render/${projectId}?size=thumb`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`status ${response.status}`);
    return await response.json();
  } catch (err) {
    console.error(`preview for project ${projectId} unavailable: ${err.message}`);
    return null;
  }
}

app.get(
  '/projects/:id',
  route(async (req, res) => {
    const id = parseId(req.params.id);
    if (!id) return res.status(400).json({ error: 'id must be a positive integer' });
    let project = JSON.parse((await cache.get(`project:${id}`)) ?? 'null');
    if (!project) {
      const { rows } = await db.query(
        `SELECT p.id, p.name, u.id AS "ownerId", u.name AS owner FROM projects p JOIN users u ON u.id = p.owner_id
         WHERE p.id = $1`,
        [id],
      );
      if (rows.length === 0) return res.status(404).json({ error: 'project not found' });
      project = rows[0];
      await cache.set(`project:${id}`, JSON.stringify(project), 'EX', CACHE_TTL_S);
    }
    res.json({ ...project, preview: await fetchPreview(id) });
  }),
);

app.get(
  '/projects/:id/previews',
  route(async (req, res) => {
    const id = parseId(req.params.id);
    if (!id) return res.status(400).json({ error: 'id must be a positive integer' });
    const { rows } = await db.query(
      `SELECT pv.size, pv.status FROM projects p LEFT JOIN previews pv ON pv.project_id = p.id
       WHERE p.id = $1 ORDER BY pv.size`,
      [id],
    );
    if (rows.length === 0) return res.status(404).json({ error: 'project not found' });
    res.json(rows.filter((r) => r.size !== null));
  }),
);

app.post('/jobs/reindex', (req, res) => {
  jobs.enqueue('reindex-projects', async () => {
    const { rows } = await db.query('SELECT id, name FROM projects ORDER BY id');
    await db.query('UPDATE projects SET search_text = lower(name) WHERE search_text IS DISTINCT FROM lower(name)');
    await cache.set('reindex:last', JSON.stringify({ projects: rows.length, at: new Date().toISOString() }));
  });
  res.status(202).json({ queued: 'reindex-projects' });
});

app.get('/boom', () => {
  throw new Error('boom: this route fails on purpose');
});

app.use((req, res) => res.status(404).json({ error: 'not found' }));

// Express recognises an error handler by its four parameters, so `next` stays.
app.use((err, req, res, next) => {
  console.error(`${req.method} ${req.originalUrl} failed: ${err.message}`);
  res.status(500).json({ error: 'internal error' });
});

async function main() {
  await migrate(db);
  jobs.start();
  const server = app.listen(PORT, HOST, () => {
    console.log(`listening on http://${HOST}:${server.address().port}`);
  });
}

main().catch((err) => {
  console.error(`demo app failed to start: ${err.message}`);
  process.exit(1);
});
