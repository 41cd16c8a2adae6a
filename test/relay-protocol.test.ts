// The origin-to-origin relay framing: exact bytes, records split anywhere across chunks, and
// every malformed input refused with SC_ERR_RELAY_PROTOCOL (never a throw of another kind).
import t from 'tap';
import { encodeRecord, RelayDecoder, type RelayHeader } from '../origin/cluster/relay-protocol.js';
import { ScopecastError } from '../lib/errors.js';

const frame = (json: string, body: Buffer = Buffer.alloc(0)): Buffer => {
  const head = Buffer.from(json);
  const out = Buffer.alloc(8 + head.length + body.length);
  out.writeUInt32BE(head.length, 0);
  head.copy(out, 4);
  out.writeUInt32BE(body.length, 4 + head.length);
  body.copy(out, 8 + head.length);
  return out;
};

t.test('encodeRecord: length-prefixed JSON header, length-prefixed body', async (t) => {
  const bytes = encodeRecord({ kind: 'part', rendition: 'main', wallClockMs: 1700000000123 }, Buffer.from([1, 2, 3]));
  t.equal(
    bytes.toString('hex'),
    '0000003e' + Buffer.from('{"kind":"part","rendition":"main","wallClockMs":1700000000123}').toString('hex') + '00000003' + '010203',
  );
  t.equal(encodeRecord({ kind: 'ping' }).toString('hex'), '0000000f' + Buffer.from('{"kind":"ping"}').toString('hex') + '00000000');
});

t.test('decoder: records come out whole however the bytes are split', async (t) => {
  const records: Array<[RelayHeader, Buffer]> = [
    [{ kind: 'stream', edgeId: 'edge-1', profile: 'endoscopy-1080p' }, Buffer.alloc(0)],
    [{ kind: 'init', rendition: 'main', partTarget: 0.2, bandwidth: 2_500_000 }, Buffer.from('init-bytes')],
    [{ kind: 'part', rendition: 'main', wallClockMs: null }, Buffer.alloc(5000, 7)],
    [{ kind: 'rt-init' }, Buffer.from('rt')],
    [{ kind: 'rt', wallClockMs: 1.5 }, Buffer.from('frame')],
    [{ kind: 'ping' }, Buffer.alloc(0)],
    [{ kind: 'end' }, Buffer.alloc(0)],
  ];
  const all = Buffer.concat(records.map(([h, b]) => encodeRecord(h, b)));
  for (const step of [1, 3, 7, 64, 4096, all.length]) {
    const decoder = new RelayDecoder({ maxBodyBytes: 1 << 20 });
    const out = [];
    for (let i = 0; i < all.length; i += step) out.push(...decoder.push(all.subarray(i, i + step)));
    t.same(out.map((r) => r.header), records.map(([h]) => h), `headers, ${step}-byte chunks`);
    t.ok(out.every((r, i) => r.body.equals(records[i]![1])), `bodies, ${step}-byte chunks`);
    t.equal(decoder.pending, 0, 'nothing left over');
  }
});

t.test('decoder: malformed input is refused with SC_ERR_RELAY_PROTOCOL', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['zero-length header', Buffer.from('0000000000000000', 'hex')],
    ['huge header length', Buffer.from('7fffffff', 'hex')],
    ['body over the limit', frame('{"kind":"ping"}', Buffer.alloc(2048))],
    ['header not JSON', frame('{kind:')],
    ['header an array', frame('[1]')],
    ['unknown kind', frame('{"kind":"exec"}')],
    ['traversal rendition', frame('{"kind":"part","rendition":"../x","wallClockMs":null}')],
    ['wall clock a string', frame('{"kind":"rt","wallClockMs":"now"}')],
    ['part target out of range', frame('{"kind":"init","rendition":"main","partTarget":60,"bandwidth":1}')],
    ['edge id with a newline', frame('{"kind":"stream","edgeId":"a\\nb","profile":"p"}')],
  ];
  for (const [what, bytes] of cases) {
    const decoder = new RelayDecoder({ maxBodyBytes: 1024 });
    let code: string | undefined;
    try {
      decoder.push(bytes);
    } catch (err) {
      code = err instanceof ScopecastError ? err.code : `other: ${String(err)}`;
    }
    t.equal(code, 'SC_ERR_RELAY_PROTOCOL', what);
  }
});
