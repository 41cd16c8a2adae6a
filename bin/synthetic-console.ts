// A synthetic console as its own process: tsx bin/synthetic-console.ts rtmp://edge:1935/live/or1
//   [--size 1920x1080] [--fps 30] [--no-audio] [--clip SECONDS]
// Publishes a moving test picture with the latency barcode until SIGINT/SIGTERM. With --clip, a
// test-pattern clip of that many seconds is encoded once and published in a loop (-c copy): no
// barcode, ~1 % of a core (the load test's console, so it does not take the origin's CPU).
import { parseArgs } from 'node:util';
import { SyntheticConsole } from '../loadtest/index.js';
import { ClipConsole } from '../loadtest/clip-console.js';
import { closeOnSignal, exitOnStartupError } from './cli.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '1920x1080' },
    fps: { type: 'string', default: '30' },
    'no-audio': { type: 'boolean', default: false },
    clip: { type: 'string' },
  },
});
try {
  const url = positionals[0];
  if (!url) throw new Error('usage: synthetic-console <rtmp-url> [--size WxH] [--fps N] [--no-audio] [--clip SECONDS]');
  const [width, height] = values.size.split('x').map(Number);
  const options = { url, width: width ?? 1920, height: height ?? 1080, fps: Number(values.fps), audio: !values['no-audio'] };
  const source = values.clip === undefined ? new SyntheticConsole(options) : new ClipConsole({ ...options, clipSeconds: Number(values.clip) });
  source.on('died', (exit) => {
    console.error(`publisher stopped: ${exit.stderrTail || `code ${exit.code}`}`);
    process.exit(1);
  });
  // The clip console starts asynchronously (it encodes its clip first); the live one at once.
  Promise.resolve(source.start()).catch((err: unknown) => exitOnStartupError(err));
  closeOnSignal(() => source.close());
} catch (err) {
  exitOnStartupError(err);
}
