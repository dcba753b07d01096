// `node --import sidetrace/register app.mjs`: the preload for ESM apps. It
// also registers the loader hook that lets instrumentations patch `import`ed
// modules (only when tracing is on).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { start, ConfigError } = require('./start.js') as typeof import('./start.js');

try {
  start({ esm: true });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`sidetrace: could not start tracing (${(err as Error)?.message ?? err}); the app runs untraced\n`);
}
