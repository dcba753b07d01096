// `node --require sidetrace/preload app.js`: start tracing before the app loads anything.
import { startFromPreload } from './start';

startFromPreload();
