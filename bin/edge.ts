// Run an edge: tsx bin/edge.ts [--config configs/edge.example.json]
import { build } from '../edge/index.js';
import { closeOnSignal, configFromArgs, exitOnStartupError } from './cli.js';

try {
  const edge = await build(configFromArgs(process.argv));
  const { http, rtmp } = await edge.listen();
  edge.app.log.info({ http, rtmp }, `edge ready: publish to ${rtmp}/live/<stream>`);
  closeOnSignal(() => edge.close());
} catch (err) {
  exitOnStartupError(err);
}
