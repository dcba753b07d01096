// The `sidetrace` command itself: the dispatcher in src/cli/index.ts, as built in
// dist/ and run the way npm's bin link runs it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/app';
import { cli, CLI, run } from './helpers/deploy';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('sidetrace', () => {
  it('is the package bin: dist/cli/index.js, a node script with the executable bit', async () => {
    assert.equal(path.resolve(ROOT, pkg.bin.sidetrace), CLI);
    assert.ok(fs.readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n'));
    assert.ok((fs.statSync(CLI).mode & 0o111) !== 0, 'dist/cli/index.js is executable (the build sets it)');
    const r = await run(CLI, ['--version']);
    assert.equal(r.code, 0);
  });

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), `${pkg.version}\n`);
    assert.equal(r.err, '');
  });

  it('--help prints the commands on stdout; no command prints them on stderr and exits 2', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /^Usage: sidetrace <command>/);
    assert.match(help.stdout.toString(), /deploy \[options\] -- <command\.\.\.>/);
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.err, /^Usage: sidetrace <command>/);
    const deployHelp = await cli(['deploy', '--help']);
    assert.equal(deployHelp.code, 0);
    assert.match(deployHelp.stdout.toString(), /sidetrace deploy step <name> -- <command\.\.\.>/);
  });

  it('an unknown command is one line and exit 2', async () => {
    const r = await cli(['deploi', '--', 'true']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'sidetrace: unknown command "deploi" (see sidetrace --help)\n');
  });

  it('dispatches doctor to the doctor command', async () => {
    const r = await cli(['doctor', '--help']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.stdout.toString(), /^Usage: sidetrace doctor/);
  });
});
