// Preloaded with NODE_OPTIONS="--import <this file>" by `npm run bench -- --cpu-prof`: profiles
// every node process a benchmark starts, its children included (node refuses --cpu-prof in
// NODE_OPTIONS). Writes <TALLY_BENCH_PROFILE_DIR>/<pid>.cpuprofile when the process exits.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.TALLY_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // The main-thread session answers synchronously, so this works inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  };
  process.on('exit', write);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      write();
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
}
