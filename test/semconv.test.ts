// The semantic-convention names in src/tracing/semconv.ts are copies (the
// preload must not load the package): each must be what
// @opentelemetry/semantic-conventions calls it, in its stable entry point or,
// failing that, its incubating one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as stable from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { ROOT } from './helpers/app';

/** Names the conventions no longer have, kept because older instrumentations still set them. */
const NOT_IN_THE_CONVENTIONS = new Set(['ATTR_MESSAGING_URL']);

describe('semantic-convention names (dist/lib/tracing/semconv.js)', () => {
  const ours: Record<string, unknown> = require(path.join(ROOT, 'dist', 'lib', 'tracing', 'semconv.js'));
  const names = Object.keys(ours).filter((k) => k.startsWith('ATTR_'));

  it('match @opentelemetry/semantic-conventions, stable names from its stable entry point', () => {
    assert.ok(names.length > 20, `found only ${names.length} names`);
    const wrong: string[] = [];
    for (const name of names) {
      if (NOT_IN_THE_CONVENTIONS.has(name)) continue;
      const upstream = (stable as Record<string, unknown>)[name] ?? (incubating as Record<string, unknown>)[name];
      if (upstream !== ours[name]) wrong.push(`${name}: ours ${JSON.stringify(ours[name])}, upstream ${JSON.stringify(upstream)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('list names the conventions do not have only as such', () => {
    for (const name of NOT_IN_THE_CONVENTIONS) {
      assert.ok(name in ours, `${name} is no longer in src/tracing/semconv.ts: drop it from this list`);
      assert.equal((incubating as Record<string, unknown>)[name], undefined, `${name} is in the conventions now`);
    }
  });
});
