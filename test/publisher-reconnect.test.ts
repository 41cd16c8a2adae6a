// A console that drops and comes back within rtmp.publishGraceMs keeps its session: the same
// pipeline and encoder process, the stream never ends at the origin. Regression: the edge used to
// refuse the returning console as "stream is already being published" (its own pipeline was
// still alive in the grace window). Short loop here; the long one is `npm run loadtest -- --cycles`.
import t from 'tap';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

t.test('publisher reconnects within the grace window keep the session', async (t) => {
  const stack = await startStack({ publishGraceMs: 4000 });
  t.teardown(() => stack.close());
  const stream = 'regrace1';
  const first = publishTestSource(stack.rtmpUrl(stream), { size: '320x180', seconds: 3 });
  t.teardown(() => first.close());
  const pipeline = await eventually(() => stack.edge.pipelines.get(stream), 15_000, 'pipeline');
  const pid = await eventually(() => pipeline.encoderPid ?? undefined, 10_000, 'encoder pid');
  await eventually(() => (stack.origin.registry.get(stream)?.state === 'live' ? true : undefined), 15_000, 'live at the origin');
  let ended = false;
  stack.origin.registry.on('ended', (s) => {
    if (s.name === stream) ended = true;
  });

  for (let i = 1; i <= 3; i++) {
    await first.exited();
    const again = publishTestSource(stack.rtmpUrl(stream), { size: '320x180', seconds: 3 });
    t.teardown(() => again.close());
    const exit = await again.exited();
    t.equal(exit.code, 0, `reconnect ${i}: the console was accepted and published to the end`);
    t.equal(stack.edge.pipelines.get(stream), pipeline, `reconnect ${i}: same pipeline`);
    t.equal(pipeline.encoderPid, pid, `reconnect ${i}: same encoder process`);
  }
  t.notOk(ended, 'the stream never ended at the origin');
  // After the last publisher leaves for longer than the grace window, the stream ends.
  await eventually(() => (stack.edge.pipelines.has(stream) ? undefined : true), 15_000, 'pipeline ends after the grace window');
});
