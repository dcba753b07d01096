// An ES module app of N modules (default 500) for the ESM start-up bench: an
// express server whose route calls into every module. Generated into a
// temporary directory with express linked from the repository.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './procs.mjs';

export function makeEsmApp(modules = 500) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-bench-esm-'));
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'esm-app', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', 'express'), path.join(dir, 'node_modules', 'express'), 'dir');
  fs.mkdirSync(path.join(dir, 'lib'));
  // Ten layers: each module imports the one ten places before it, like a real app's helpers.
  for (let i = 0; i < modules; i++) {
    const dep = i >= 10 ? `import { f${i - 10} } from './m${i - 10}.mjs';\n` : '';
    const body = i >= 10 ? `f${i - 10}(x) + ${i}` : `x + ${i}`;
    fs.writeFileSync(path.join(dir, 'lib', `m${i}.mjs`), `${dep}export const name${i} = 'm${i}';\nexport function f${i}(x) {\n  return ${body};\n}\n`);
  }
  const imports = Array.from({ length: modules }, (_, i) => `import { f${i} } from './lib/m${i}.mjs';`).join('\n');
  const calls = Array.from({ length: modules }, (_, i) => `f${i}(1)`).join(' + ');
  fs.writeFileSync(
    path.join(dir, 'main.mjs'),
    `import express from 'express';\n${imports}\n\nconst app = express();\napp.get('/hello', (req, res) => res.send(String(${calls})));\n` +
      `const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {\n  const cpu = process.cpuUsage();\n` +
      `  console.log(\`listening on http://127.0.0.1:\${server.address().port} maxrss_kib=\${process.resourceUsage().maxRSS} uptime_ms=\${performance.now().toFixed(1)} cpu_ms=\${((cpu.user + cpu.system) / 1000).toFixed(1)}\`);\n});\n`,
  );
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', remove);
  return { dir, script: path.join(dir, 'main.mjs'), remove };
}
