// `node --require sidetrace/preload app.js`: start tracing before the app
// loads anything. Telemetry must never stop the app, so anything unexpected
// here becomes one line and the app runs untraced — except a config error
// under SIDETRACE_STRICT=true, which is meant to stop it.
import { ConfigError, start } from './start';

try {
  start();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  process.stderr.write(`sidetrace: could not start tracing (${(err as Error)?.message ?? err}); the app runs untraced\n`);
}
