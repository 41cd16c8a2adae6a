// A synthetic console as its own process: tsx bin/synthetic-console.ts rtmp://edge:1935/live/or1
//   [--size 1920x1080] [--fps 30] [--no-audio]
// Publishes a moving test picture with the latency barcode until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { SyntheticConsole } from '../loadtest/index.js';
import { closeOnSignal, exitOnStartupError } from './cli.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '1920x1080' },
    fps: { type: 'string', default: '30' },
    'no-audio': { type: 'boolean', default: false },
  },
});
try {
  const url = positionals[0];
  if (!url) throw new Error('usage: synthetic-console <rtmp-url> [--size WxH] [--fps N] [--no-audio]');
  const [width, height] = values.size.split('x').map(Number);
  const source = new SyntheticConsole({ url, width: width ?? 1920, height: height ?? 1080, fps: Number(values.fps), audio: !values['no-audio'] });
  source.on('died', (exit) => {
    console.error(`publisher stopped: ${exit.stderrTail || `code ${exit.code}`}`);
    process.exit(1);
  });
  source.start();
  closeOnSignal(() => source.close());
} catch (err) {
  exitOnStartupError(err);
}
