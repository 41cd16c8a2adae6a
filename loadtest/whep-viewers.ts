// N background WHEP viewers in their own process (load for benchmarks and load tests):
//   tsx loadtest/whep-viewers.ts <whep-url> <count>
// Prints "ready <n>" once all are connected and "frames <total>" every second; ends on SIGTERM.
import { WhepClient } from './whep-client.js';

const [url, countArg] = process.argv.slice(2);
if (!url || !countArg) {
  console.error('usage: whep-viewers <whep-url> <count>');
  process.exit(2);
}
const clients: WhepClient[] = [];
let frames = 0;
for (let i = 0; i < Number(countArg); i++) {
  const c = new WhepClient({ interfaceAddress: '127.0.0.1' });
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
