// The benchmarks' command line: `--name value` flags, and `--node`, which
// names a pinned Node by major version (scripts/node-install.sh, installed on
// first use) or a Node binary by path.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './procs.mjs';

const args = process.argv.slice(2);

/** The value after `name` on the command line, or `fallback`. */
export function flag(name, fallback) {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
}

/** Whether `name` is on the command line. */
export function has(name) {
  return args.includes(name);
}

/** The Node binary `--node` names (`24` → the pinned 24.x), or the one running this script. */
export function nodeBinary(choice = flag('--node', undefined)) {
  if (!choice) return process.execPath;
  if (!/^\d+$/.test(choice)) return path.resolve(choice);
  return execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'node-install.sh'), choice], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop();
}
