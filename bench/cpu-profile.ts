/**
 * CPU profiles of the spawned server. Node 20 refuses `--cpu-prof` in NODE_OPTIONS and the e2e
 * harness starts `node bin/ferry.js` without flags, so instead NODE_OPTIONS imports a tiny module
 * (a data: URL) that starts the V8 profiler through node:inspector and, on SIGTERM, writes a
 * `.cpuprofile` (the same file `--cpu-prof` writes; open it in Chrome DevTools or speedscope).
 */
const profilerModule = (dir: string): string => `
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.prependListener('SIGTERM', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(${JSON.stringify(dir)} + '/server-' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`;

/** NODE_OPTIONS that make a Node process write a CPU profile into `dir` when it gets SIGTERM. */
export function cpuProfileOptions(dir: string): string {
  return `--import=data:text/javascript,${encodeURIComponent(profilerModule(dir))}`;
}
