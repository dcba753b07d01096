// `node --import sidetrace/register app.mjs`: the preload for ESM apps. It
// also registers the loader hook that lets instrumentations patch `import`ed
// modules (only when tracing is on).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { startFromPreload } = require('./start/index.js') as typeof import('./start/index.js');

startFromPreload({ esm: true });
