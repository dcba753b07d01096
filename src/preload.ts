// `node --require sidetrace/preload app.js`: start tracing before the app loads anything.
// The preflight goes first: the compile cache, so that it covers what start()
// loads, and the tracing-off decision, so that tracing off loads nothing more.
import { configForStart, enableCompileCache } from './start/preflight';

enableCompileCache();
const read = configForStart();
if (read) (require('./start') as typeof import('./start')).startFromPreload(read);
