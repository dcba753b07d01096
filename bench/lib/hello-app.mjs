// The hello-world app as its own project: a temporary directory holding the
// app, a package.json and a node_modules with express only (a link into the
// repository's). In the repository itself, sidetrace would also find koa, pg,
// redis, grpc… installed and load their instrumentations, which a real
// express hello-world would not have.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './procs.mjs';

export function makeHelloApp() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-bench-hello-'));
  fs.copyFileSync(path.join(REPO_ROOT, 'bench', 'apps', 'hello.js'), path.join(dir, 'hello.js'));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'hello', version: '1.0.0', private: true, dependencies: { express: '4' } }, null, 2)}\n`,
  );
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', 'express'), path.join(dir, 'node_modules', 'express'), 'dir');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', remove);
  return { dir, script: path.join(dir, 'hello.js'), remove };
}
