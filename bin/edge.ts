// Run an edge: tsx bin/edge.ts [--config configs/edge.example.json]
import { build } from '../edge/index.js';
import { closeOnSignal, configFromArgs, exitOnStartupError } from './cli.js';

try {
  const edge = await build(configFromArgs(process.argv));
  const { http, rtmp, rtmps } = await edge.listen();
  edge.app.log.info({ http, rtmp, rtmps }, `edge ready: publish to ${rtmp}/live/<stream>${rtmps ? ` or ${rtmps}/live/<stream>` : ''}`);
  closeOnSignal(() => edge.close());
} catch (err) {
  exitOnStartupError(err);
}
