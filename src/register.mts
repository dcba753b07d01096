// `node --import sidetrace/register app.mjs`: the preload for ESM apps. It
// also registers the loader hook that lets instrumentations patch `import`ed
// modules (only when tracing is on, only for the modules they patch).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const preflight = require('./start/preflight.js') as typeof import('./start/preflight.js');
preflight.enableCompileCache();
const read = preflight.configForStart();
if (read) (require('./start/index.js') as typeof import('./start/index.js')).startFromPreload({ ...read, esm: true });
