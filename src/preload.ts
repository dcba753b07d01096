// `node --require sidetrace/preload app.js`: start tracing before the app loads anything.
// The compile cache goes first, so that it covers what start() loads.
import { enableCompileCache } from './start/compile-cache';

enableCompileCache();
(require('./start') as typeof import('./start')).startFromPreload();
