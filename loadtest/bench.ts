// npm run bench [-- --duration 20 --warmup 5 --only llhls,whep,nms-flv,nginx-hls --source-size 1280x720]
// scopecast (LL-HLS, WHEP) side by side with node-media-server HTTP-FLV and nginx-rtmp HLS on one
// stamped source: see bench-run.ts.
//
// This entry only launches bench-run.ts in a child node process and waits for it. Why: tsx's CLI
// relays Ctrl-C to its child and SIGKILLs it if the child has not acknowledged within 30 ms; the
// bench, busy decoding four streams next to an edge and an origin, often cannot (measured: killed
// mid-cleanup, temp dirs left behind). This process's event loop is idle, so it acknowledges at
// once, and the bench shuts down at its own pace. The child also gets SIGTERM from the kernel if
// this process dies first (setpriv --pdeathsig).
import { fileURLToPath } from 'node:url';
import { spawnOwned } from './anchors/index.js';

const entry = fileURLToPath(new URL('./bench-run.ts', import.meta.url));
const bench = spawnOwned(process.execPath, ['--import', 'tsx', entry, ...process.argv.slice(2)], { stdio: 'inherit', dieWithParent: true });
// A terminal's Ctrl-C reaches the bench directly too; it treats repeats within 2 s as one.
const forward = (signal: NodeJS.Signals): void => void bench.child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const exit = await bench.exited;
process.exit(exit.code ?? (exit.signal === 'SIGINT' ? 130 : 1));
