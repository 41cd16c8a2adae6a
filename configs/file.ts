import { readFileSync } from 'node:fs';
import { ScopecastError } from '../lib/errors.js';

/** Read a JSON config file; a missing file or bad JSON is a config error, not a crash. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScopecastError('SC_ERR_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ScopecastError('SC_ERR_CONFIG_INVALID', `${path} is not valid JSON: ${(err as Error).message}`);
  }
}
