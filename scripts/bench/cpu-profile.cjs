// Preloaded by `npm run bench -- --profile` through NODE_OPTIONS=--require, so that every node
// process of the service (the server and the training child it forks) writes a V8 CPU profile of
// its main thread when it exits. Node does not accept --cpu-prof in NODE_OPTIONS; the inspector
// gives the same profiler. Profiles go to $FARESIGHT_BENCH_PROFILE_DIR, named like --cpu-prof's.
// With $FARESIGHT_BENCH_ALLOCATIONS=1 (`--profile --allocations`) it also samples allocations, the
// garbage included (collected objects stay in the profile), into a Heap.*.heapprofile beside it.
'use strict';
const { isMainThread } = require('node:worker_threads');
const dir = process.env.FARESIGHT_BENCH_PROFILE_DIR;
if (dir && isMainThread) {
  const inspector = require('node:inspector');
  const fs = require('node:fs');
  const path = require('node:path');
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  const allocations = process.env.FARESIGHT_BENCH_ALLOCATIONS === '1';
  if (allocations) {
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 32768,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // In the same thread, post() runs its callback before it returns, so this completes before exit.
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '.').slice(0, 15);
    session.post('Profiler.stop', (error, result) => {
      if (error || !result) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `CPU.${stamp}.${process.pid}.0.001.cpuprofile`), JSON.stringify(result.profile));
    });
    if (allocations) {
      session.post('HeapProfiler.stopSampling', (error, result) => {
        if (error || !result) return;
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `Heap.${stamp}.${process.pid}.0.001.heapprofile`), JSON.stringify(result.profile));
      });
    }
  };
  process.on('exit', write);
  // A process stopped by SIGTERM without a handler of its own (the training child) would end
  // without 'exit': write the profile, then end as SIGTERM would have.
  process.on('SIGTERM', () => {
    if (process.listenerCount('SIGTERM') > 1) return;
    write();
    process.exit(143);
  });
}
