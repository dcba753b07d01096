// The docs are part of the feature: every environment variable the code reads
// is in docs/configuration.md's table, and every variable the collector
// configs read is in the collector docs. The names are collected from the
// sources, not from a hand-kept list that could drift.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/app';

function files(dir: string, ext: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, ext) : ext.test(e.name) ? [p] : [];
  });
}

const configurationDoc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const allDocs = [path.join(ROOT, 'README.md'), ...files(path.join(ROOT, 'docs'), /\.md$/)].map((f) => fs.readFileSync(f, 'utf8')).join('\n');

describe('docs', () => {
  it('documents every environment variable sidetrace reads', () => {
    const names = new Set<string>();
    for (const f of files(path.join(ROOT, 'src'), /\.m?ts$/)) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/['"`]((?:OTEL|SIDETRACE|NEW_RELIC|KAMAL|GITHUB|GIT)_[A-Z0-9_]+)['"`]/g)) names.add(m[1]);
    }
    assert.ok(names.size > 40, `found only ${names.size} names: the scan is broken`);
    const missing = [...names].filter((n) => !configurationDoc.includes(`\`${n}\``));
    assert.deepEqual(missing, []);
  });

  it('documents every environment variable the collector configs read', () => {
    const names = new Set<string>();
    for (const f of files(path.join(ROOT, 'collector'), /\.ya?ml$/)) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/\$\{env:([A-Z0-9_]+)/g)) names.add(m[1]);
    }
    assert.ok(names.has('NEW_RELIC_LICENSE_KEY'), 'the scan found the New Relic key');
    const missing = [...names].filter((n) => !allDocs.includes(`\`${n}\``));
    assert.deepEqual(missing, []);
  });
});
