// Shared bits of the entry points: read --config, run until SIGINT/SIGTERM, close in order.
import { readConfigFile } from '../configs/index.js';
import { ScopecastError } from '../lib/errors.js';

export function configFromArgs(argv: readonly string[]): unknown {
  const i = argv.indexOf('--config');
  if (i < 0) return {};
  const path = argv[i + 1];
  if (!path) throw new ScopecastError('SC_ERR_CONFIG_INVALID', '--config needs a file path');
  return readConfigFile(path);
}

/**
 * Run until a signal, then close() once. Ctrl-C reaches npm, tsx and us at once, so repeats
 * within 2 s are the same request; a later one (or 20 s without finishing) forces exit.
 */
export function closeOnSignal(close: () => Promise<void>): void {
  let closingSince = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closingSince) {
      if (Date.now() - closingSince < 2000) return;
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    closingSince = Date.now();
    setTimeout(() => {
      console.error('shutdown took over 20 s: exiting');
      process.exit(1);
    }, 20_000).unref();
    console.error(`${signal}: shutting down`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Print a config error readably (every problem on its own line) and exit 2. */
export function exitOnStartupError(err: unknown): never {
  if (err instanceof ScopecastError) console.error(`${err.code}: ${err.message}`);
  else console.error(err);
  process.exit(2);
}
