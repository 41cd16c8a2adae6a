// A plain node-media-server 4.4 (RTMP in, HTTP-FLV out) as its own process: NMS keeps its state
// in a module-global Context and the bench process already embeds one in the edge.
//   tsx loadtest/anchors/nms-server.ts <rtmp-port> <http-port> <store-dir>
// Prints "ready" once listening and "publish <path>" per publisher; ends on SIGTERM/SIGINT.
import NodeMediaServer from 'node-media-server';
import nmsLogger from 'node-media-server/src/core/logger.js';

const [rtmpPort, httpPort, storeDir] = process.argv.slice(2);
if (!rtmpPort || !httpPort || !storeDir) {
  console.error('usage: nms-server <rtmp-port> <http-port> <store-dir>');
  process.exit(2);
}
const nms = new NodeMediaServer({
  bind: '127.0.0.1',
  rtmp: { port: Number(rtmpPort) },
  http: { port: Number(httpPort) },
  store: { path: storeDir },
  webadmin: { enable: false },
});
nmsLogger.level = 'warn'; // the constructor forces debug: one line per packet burst otherwise
nms.on('postPublish', (session) => console.log(`publish ${session.streamPath}`));
await nms.run();
console.log('ready');
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void nms.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
