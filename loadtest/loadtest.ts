// npm run loadtest [-- --hls 500 --whep 20 --duration 60 | --cycles 200 | --origin URL ...]
// Many LL-HLS + WHEP viewers on one origin, or publish/unpublish cycles: see loadtest-run.ts.
//
// This entry only launches loadtest-run.ts in a child node process and waits for it, as bench.ts
// does for the bench and for the same reason: tsx's CLI relays Ctrl-C to its child and SIGKILLs it
// if it has not acknowledged within 30 ms, which a process running hundreds of viewers often
// cannot; killed mid-cleanup it would leave the origin, the edge and their ffmpeg behind. This
// process's event loop is idle, so it acknowledges at once, and the load test shuts down at its own
// pace. The child also gets SIGTERM from the kernel if this process dies first (setpriv --pdeathsig).
import { fileURLToPath } from 'node:url';
import { spawnOwned } from './anchors/index.js';

const entry = fileURLToPath(new URL('./loadtest-run.ts', import.meta.url));
const run = spawnOwned(process.execPath, ['--import', 'tsx', entry, ...process.argv.slice(2)], { stdio: 'inherit', dieWithParent: true });
// A terminal's Ctrl-C reaches the load test directly too; it treats repeats within 2 s as one.
const forward = (signal: NodeJS.Signals): void => void run.child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const exit = await run.exited;
process.exit(exit.code ?? (exit.signal === 'SIGINT' ? 130 : 1));
