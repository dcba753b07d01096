import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A self-signed certificate for localhost (openssl), as files; removed when the test process exits. */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidetrace-tls-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const files = { key: path.join(dir, 'key.pem'), cert: path.join(dir, 'cert.pem') };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', files.key, '-out', files.cert], {
    stdio: 'ignore',
  });
  return files;
}
