// The `sidetrace` command itself: the dispatcher in src/cli.ts, as built in
// dist/ and run the way npm's bin link runs it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from './helpers/app';
import { cli, CLI, run, tempDir } from './helpers/deploy';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const dir = tempDir('sidetrace-cli-test-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('sidetrace', () => {
  it('is the package bin: dist/cli.js, a node script with the executable bit', async () => {
    assert.equal(path.resolve(ROOT, pkg.bin.sidetrace), CLI);
    assert.ok(fs.readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n'));
    assert.ok((fs.statSync(CLI).mode & 0o111) !== 0, 'dist/cli.js is executable (the build sets it)');
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

  it('dispatches doctor to dist/doctor.js', async () => {
    const r = await cli(['doctor', '--help']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.stdout.toString(), /^Usage: sidetrace doctor/);
  });

  it('says doctor is not available in a build without it', async () => {
    // The dispatcher alone, without the rest of the build next to it.
    fs.copyFileSync(CLI, path.join(dir, 'cli.js'));
    const r = await run(process.execPath, [path.join(dir, 'cli.js'), 'doctor']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'sidetrace: doctor is not available in this build\n');
  });
});
