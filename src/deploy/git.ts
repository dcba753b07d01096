// The commit and repository a deploy ships, from git when CI variables do
// not say. Remote URLs often embed credentials (https://user:token@host/...),
// so only a canonical https URL without userinfo, query or fragment is kept.
import { spawnSync } from 'node:child_process';

function git(args: string[], cwd: string): string | undefined {
  try {
    const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
    const out = r.status === 0 ? r.stdout.trim() : '';
    return out || undefined;
  } catch {
    return undefined; // no git installed: the attribute is simply absent
  }
}

export function gitHeadRevision(cwd = process.cwd()): string | undefined {
  const rev = git(['rev-parse', 'HEAD'], cwd);
  return rev && /^[0-9a-f]{40,64}$/.test(rev) ? rev : undefined;
}

export function gitRemoteUrl(cwd = process.cwd()): string | undefined {
  return git(['config', '--get', 'remote.origin.url'], cwd);
}

/**
 * `https://user:token@host/org/repo.git`, `git@host:org/repo.git` and
 * `ssh://git@host:22/org/repo.git` all become `https://host/org/repo`;
 * anything else (a local path, an unparseable string) gives undefined.
 */
export function canonicalRepositoryUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const scp = /^[^/@:\s]+@([^/:\s]+):(?!\/)(.+)$/.exec(raw);
  let host: string;
  let path: string;
  if (scp) {
    host = scp[1];
    path = scp[2];
  } else {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return undefined;
    }
    if (!['https:', 'http:', 'ssh:', 'git:', 'git+ssh:'].includes(u.protocol) || !u.hostname) return undefined;
    host = u.protocol === 'https:' || u.protocol === 'http:' ? u.host : u.hostname;
    path = u.pathname;
    if (u.protocol === 'http:') return `http://${host}/${trimPath(path)}`;
  }
  const p = trimPath(path);
  return p ? `https://${host}/${p}` : undefined;
}

function trimPath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
}
