// N background WHEP viewers in their own process (load for benchmarks and load tests):
//   tsx loadtest/whep-viewers.ts <whep-url> <count> [--token <jwt>]
// The token (expert, surgeon or admin for the stream) may also come from SCOPECAST_TOKEN, which
// other users of the machine cannot read the way they can read a command line.
// Prints "ready <n>" once all are connected and "frames <total>" every second; ends on SIGTERM.
import { parseArgs } from 'node:util';
import { WhepClient } from './whep-client.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { token: { type: 'string' } } });
const [url, countArg] = positionals;
if (!url || !countArg) {
  console.error('usage: whep-viewers <whep-url> <count> [--token <jwt>]   (or SCOPECAST_TOKEN=<jwt>)');
  process.exit(2);
}
const token = values.token || process.env.SCOPECAST_TOKEN || undefined;
const clients: WhepClient[] = [];
let frames = 0;
for (let i = 0; i < Number(countArg); i++) {
  const c = new WhepClient({ interfaceAddress: '127.0.0.1', ...(token ? { token } : {}) });
  c.on('frame', () => (frames += 1));
  await c.connect(url);
  clients.push(c);
}
console.log(`ready ${clients.length}`);
const timer = setInterval(() => console.log(`frames ${frames}`), 1000);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void Promise.all(clients.map((c) => c.close())).then(() => process.exit(0));
});
