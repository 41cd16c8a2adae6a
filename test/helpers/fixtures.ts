import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Fmp4Splitter } from '../../codecs/fmp4/index.js';

export const fixturePath = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** A fixture CMAF file cut into its init segment and fragments. */
export function cmafFixture(name = 'av.cmaf'): { init: Buffer; fragments: Buffer[] } {
  const units = new Fmp4Splitter().push(readFileSync(fixturePath(name)));
  const [first, ...rest] = units;
  if (first?.kind !== 'init') throw new Error(`${name} does not start with an init segment`);
  return { init: first.data, fragments: rest.map((u) => u.data) };
}
