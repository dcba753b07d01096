'use strict';
// PostgreSQL access for the demo app: one pool, and the schema + seed applied at boot.
const fs = require('node:fs');
const path = require('node:path');
const { Pool } = require('pg');

const SCHEMA_LOCK = 7_315_001; // any constant: serialises concurrent boots of several app instances

function createPool(databaseUrl) {
  const pool = new Pool({ connectionString: databaseUrl, max: 5 });
  // An idle client losing its connection must not crash the app.
  pool.on('error', (err) => console.error(`db: idle client error: ${err.message}`));
  return pool;
}

async function migrate(pool) {
  const schema = fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8');
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
    await client.query(schema);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => {});
    client.release();
  }
}

module.exports = { createPool, migrate };
