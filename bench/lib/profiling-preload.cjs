// For bench/profile.mjs --app demo: --cpu-prof cannot be passed through
// NODE_OPTIONS and the demo's launcher takes a single preload, so this one
// loads the real preload (BENCH_INNER_PRELOAD, if any) and, when
// BENCH_PROFILE_DIR is set, records a CPU profile with the inspector, written
// when the process exits.
const fs = require('node:fs');
const path = require('node:path');

if (process.env.BENCH_INNER_PRELOAD) require(process.env.BENCH_INNER_PRELOAD);

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const inspector = require('node:inspector');
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // Same-thread inspector sessions answer synchronously, so this works in an exit handler.
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (err, result) => {
      const profile = result?.profile;
      if (!err) fs.writeFileSync(path.join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(profile));
    });
  };
  process.on('exit', write);
  // sidetrace re-raises SIGTERM after its flush (no 'exit' event then): profiling takes the signal over.
  process.once('SIGTERM', () => {
    write();
    process.exit(0);
  });
}
