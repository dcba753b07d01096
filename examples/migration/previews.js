'use strict';
// The demo migration's work: backfill preview metadata for stored image files.
// Records are file ids; a file's "image" is derived from its id, its preview
// (size, content hash, thumbnail path) is written to the Redis hash
// `demo:previews`. Files that already have a preview are skipped, and a few
// are broken on purpose (failures the migration logs and moves on from).
const crypto = require('node:crypto');

const PREVIEWS_KEY = 'demo:previews';
const SIZES = [
  [640, 480],
  [1920, 1080],
  [4032, 3024],
];

/** The injected failures: about 0.1 % of the files, with two kinds of error. */
function brokenFile(id) {
  if (id % 997 === 13) return new RangeError(`file ${id}: corrupt JPEG header`);
  if (id % 1499 === 7) return new TypeError(`file ${id}: unsupported format (HEIC)`);
  return undefined;
}

function renderPreview(id) {
  const [width, height] = SIZES[id % SIZES.length];
  const scale = Math.min(320 / width, 200 / height);
  // A little CPU per file, as a real thumbnailer's decode would cost.
  const hash = crypto
    .createHash('sha256')
    .update(`img-${id}`)
    .update(Buffer.alloc(2048, id & 0xff))
    .digest('hex')
    .slice(0, 16);
  return { id, width, height, thumb: [Math.round(width * scale), Math.round(height * scale)], hash, path: `/previews/${id}/thumb.webp` };
}

/**
 * Migrates one batch: one read for the files that already have a preview,
 * one write for the new ones (two Redis spans per batch trace, not one per
 * file). `batch` is sidetrace's batch object.
 */
async function backfillBatch(redis, batch) {
  const ids = [];
  for (let id = batch.cursorStart; id <= batch.cursorEnd; id++) ids.push(id);
  const existing = await redis.hmget(PREVIEWS_KEY, ...ids.map(String));
  const previews = {};
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (existing[i] !== null) {
      batch.skipped();
      continue;
    }
    const broken = brokenFile(id);
    if (broken) {
      batch.failed(id, broken);
      continue;
    }
    previews[id] = JSON.stringify(renderPreview(id));
    batch.processed();
  }
  if (Object.keys(previews).length) await redis.hset(PREVIEWS_KEY, previews);
}

/** A tenth of the files got a preview on upload already (so the migration skips them). */
async function seedExistingPreviews(redis, total) {
  const previews = {};
  for (let id = 0; id < total; id += 10) previews[id] = JSON.stringify(renderPreview(id));
  if (Object.keys(previews).length) await redis.hset(PREVIEWS_KEY, previews);
}

module.exports = { PREVIEWS_KEY, backfillBatch, seedExistingPreviews };
