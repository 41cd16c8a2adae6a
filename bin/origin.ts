// Run an origin: tsx bin/origin.ts [--config configs/origin.example.json]
import { build } from '../origin/index.js';
import { closeOnSignal, configFromArgs, exitOnStartupError } from './cli.js';

try {
  const origin = await build(configFromArgs(process.argv));
  await origin.app.listen({ host: origin.config.http.host, port: origin.config.http.port });
  closeOnSignal(() => origin.close());
} catch (err) {
  exitOnStartupError(err);
}
