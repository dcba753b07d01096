// The docs are part of the feature: every environment variable the code reads
// is in docs/configuration.md's table, every variable the collector configs
// read is in the collector docs, and every command the docs show can be run
// (npm scripts, sidetrace subcommands, bench/ and scripts/ files). The names
// are collected from the sources, not from a hand-kept list that could drift.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers/app';

function files(dir: string, ext: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, ext) : ext.test(e.name) ? [p] : [];
  });
}

const configurationDoc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const docFiles = [path.join(ROOT, 'README.md'), ...files(path.join(ROOT, 'docs'), /\.md$/)];
const allDocs = docFiles.map((f) => fs.readFileSync(f, 'utf8')).join('\n');

/** The code in a markdown text: fenced blocks and inline code spans. */
function codeOf(markdown: string): string[] {
  const fenced: string[] = [];
  const rest = markdown.replace(/^```[^\n]*\n([\s\S]*?)^```/gm, (_, body: string) => {
    fenced.push(body);
    return '';
  });
  return [...fenced, ...[...rest.matchAll(/`([^`\n]+)`/g)].map((m) => m[1])];
}

const docCode = docFiles.flatMap((f) => codeOf(fs.readFileSync(f, 'utf8')).map((code) => ({ file: path.relative(ROOT, f), code })));

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

  it('names only npm scripts that package.json has', () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const named = docCode.flatMap(({ file, code }) => [...code.matchAll(/\bnpm run ([\w:.-]+)/g)].map((m) => ({ file, script: m[1] })));
    assert.ok(named.length > 5, `found only ${named.length} npm run commands: the scan is broken`);
    assert.deepEqual(
      named.filter((n) => !(n.script in scripts)),
      [],
    );
  });

  it('names only sidetrace subcommands that exist (each answers --help with exit 0)', () => {
    const cli = path.join(ROOT, 'dist', 'cli', 'index.js');
    const named = new Map<string, string>(); // "deploy" or "deploy open" → a file that names it
    for (const { file, code } of docCode) {
      // At a command's place: a line's or code span's start, after a shell separator, `$ ` or npx.
      // A word followed by ':' is a log line's prefix ("sidetrace collector: …"), not a command.
      for (const m of code.matchAll(
        /(?:^\s*(?:\$\s+)?|[;&|]\s*|\$\()(?:npx(?: --?[\w-]+)* )?sidetrace ([a-z][\w-]*)(?![\w:-])(?: ([a-z][\w-]*)(?![\w:-]))?/gm,
      )) {
        named.set(m[1], file);
        if (m[2]) named.set(`${m[1]} ${m[2]}`, file);
      }
    }
    assert.ok(named.has('deploy') && named.has('doctor'), `the scan found ${[...named.keys()].join(', ')}`);
    const helps = new Map<string, { status: number | null; stdout: string }>();
    const help = (command: string) => {
      if (!helps.has(command)) helps.set(command, spawnSync(process.execPath, [cli, command, '--help'], { encoding: 'utf8', timeout: 30_000 }));
      return helps.get(command)!;
    };
    const wrong: string[] = [];
    for (const [words, file] of named) {
      const [command, sub] = words.split(' ');
      const r = help(command);
      if (r.status !== 0) wrong.push(`${file}: sidetrace ${command} --help exited ${r.status}`);
      else if (sub && !r.stdout.includes(`sidetrace ${command} ${sub}`)) wrong.push(`${file}: sidetrace ${words} is not in sidetrace ${command} --help`);
    }
    assert.deepEqual(wrong, []);
  });

  it('names only bench/ and scripts/ files that exist', () => {
    const named = new Set<string>();
    for (const text of [allDocs, fs.readFileSync(path.join(ROOT, 'BENCHMARKS.md'), 'utf8')]) {
      for (const m of text.matchAll(/(?<![\w/.-])((?:bench|scripts)\/[\w./-]*\w)/g)) if (!m[1].includes('*')) named.add(m[1]);
    }
    assert.ok(named.size > 3, `found only ${[...named].join(', ')}: the scan is broken`);
    assert.deepEqual(
      [...named].filter((p) => !fs.existsSync(path.join(ROOT, p))),
      [],
    );
  });
});
