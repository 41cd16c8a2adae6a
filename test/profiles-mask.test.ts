// PHI masks without a network: the region checker, the drawbox filters transcodeArgs puts before
// scale (byte-exact), what those filters cover on a real frame, the edge config's consoles
// section, and which console gets which profile (fail closed).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { MAX_MASK_REGIONS, PROFILES, maskFilters, maskProblems, transcodeArgs, type ConsoleProfile } from '../codecs/profiles/index.js';
import { loadEdgeConfig } from '../configs/index.js';
import { decideConsole, isUnlistedRefusal, UNLISTED_REASON } from '../edge/consoles.js';
import { ScopecastError } from '../lib/errors.js';

const ENDOSCOPY: ConsoleProfile = PROFILES['endoscopy-1080p'];
const BANNER = { x: 0, y: 0, w: 0.5, h: 0.25 };
const CORNER = { x: 0.7, y: 0.9, w: 0.3, h: 0.1 };

const vf = (args: string[]): string => args[args.indexOf('-vf') + 1]!;

t.test('transcodeArgs: one drawbox per region, in order, before scale; nothing else changes', async (t) => {
  const masked = { ...ENDOSCOPY, masks: [BANNER, CORNER] };
  t.equal(
    vf(transcodeArgs(masked)),
    'drawbox=x=floor(iw*0):y=floor(ih*0):w=ceil(iw*0+iw*0.5)-floor(iw*0):h=ceil(ih*0+ih*0.25)-floor(ih*0):color=black:t=fill,' +
      'drawbox=x=floor(iw*0.7):y=floor(ih*0.9):w=ceil(iw*0.7+iw*0.3)-floor(iw*0.7):h=ceil(ih*0.9+ih*0.1)-floor(ih*0.9):color=black:t=fill,' +
      'scale=1280:720:flags=bilinear,format=yuv420p',
  );
  t.equal(vf(transcodeArgs(ENDOSCOPY)), 'scale=1280:720:flags=bilinear,format=yuv420p', 'no masks: the chain is unchanged');
  t.equal(vf(transcodeArgs({ ...ENDOSCOPY, masks: [] })), 'scale=1280:720:flags=bilinear,format=yuv420p', 'empty list = no masks');
  for (const input of [{ kind: 'pipe' }, { kind: 'sdp' }, { kind: 'url', url: 'rtmp://127.0.0.1:1935/live/x' }] as const) {
    const plain = transcodeArgs(ENDOSCOPY, input);
    const withMasks = transcodeArgs(masked, input);
    const i = plain.indexOf('-vf') + 1;
    t.same([...withMasks.slice(0, i), ...withMasks.slice(i + 1)], [...plain.slice(0, i), ...plain.slice(i + 1)], `${input.kind}: only -vf differs`);
    t.same(transcodeArgs(masked, input), withMasks, `${input.kind}: pure`);
  }
});

t.test('mask numbers are plain decimals (ffmpeg expressions), however small', async (t) => {
  t.same(maskFilters([{ x: 1e-7, y: 0.000001, w: 0.001, h: 1 - 0.000001 }]), [
    'drawbox=x=floor(iw*0.0000001):y=floor(ih*0.000001):w=ceil(iw*0.0000001+iw*0.001)-floor(iw*0.0000001):h=ceil(ih*0.000001+ih*0.999999)-floor(ih*0.000001):color=black:t=fill',
  ]);
});

t.test('maskProblems: every problem, with its path; transcodeArgs refuses a bad mask', async (t) => {
  t.same(maskProblems([BANNER, CORNER, { x: 0.7, y: 0, w: 0.3, h: 1 }], '/m'), [], 'regions may end exactly on the frame edge');
  t.same(maskProblems('no', '/m'), ['/m: must be an array of {x, y, w, h}']);
  t.same(maskProblems([null, { x: 0, y: 0, w: 0.1 }, { x: 0, y: 0, w: 0.1, h: 0.1, label: 'name' }], '/m'), [
    '/m/0: must be an object {x, y, w, h}',
    '/m/1/h: must be a finite number',
    '/m/2: unknown key "label"',
  ]);
  t.same(maskProblems([{ x: Number.NaN, y: Number.POSITIVE_INFINITY, w: '0.5', h: 0.1 }], '/m'), [
    '/m/0/x: must be a finite number',
    '/m/0/y: must be a finite number',
    '/m/0/w: must be a finite number',
  ]);
  t.same(maskProblems([{ x: -0.1, y: 1.5, w: 0, h: 2 }], '/m'), [
    '/m/0/x: must be within 0..1 (fraction of the frame width)',
    '/m/0/y: must be within 0..1 (fraction of the frame height)',
    '/m/0/w: must be within 0.001..1 (fraction of the frame width)',
    '/m/0/h: must be within 0.001..1 (fraction of the frame height)',
  ]);
  t.same(maskProblems([{ x: 0.6, y: 0.9, w: 0.5, h: 0.2 }], '/m'), [
    '/m/0: x + w is 1.1, past the right edge of the frame (must be <= 1)',
    '/m/0: y + h is 1.1, past the bottom edge of the frame (must be <= 1)',
  ]);
  const many = Array.from({ length: MAX_MASK_REGIONS + 1 }, () => BANNER);
  t.same(maskProblems(many, '/m'), [`/m: at most ${MAX_MASK_REGIONS} regions (got ${MAX_MASK_REGIONS + 1})`]);
  t.throws(() => transcodeArgs({ ...ENDOSCOPY, masks: [{ x: 0.6, y: 0, w: 0.5, h: 0.1 }] }), {
    name: 'TypeError',
    message: /masks\/0: x \+ w is 1\.1, past the right edge/,
  });
});

/** Runs one ffmpeg to completion; resolves with its stdout. */
async function runFfmpeg(args: string[]): Promise<Buffer> {
  const p = new FfmpegProcess({ args: ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args] });
  const chunks: Buffer[] = [];
  p.stdout?.on('data', (c: Buffer) => chunks.push(c));
  const exit = await new Promise<{ code: number | null; stderrTail: string }>((resolve) => p.once('died', resolve));
  await p.close();
  if (exit.code !== 0) throw new Error(`ffmpeg failed (${exit.code}): ${exit.stderrTail}`);
  return Buffer.concat(chunks);
}

t.test('a region covers exactly the pixels it touches: edges rounded outward, at any frame size', async (t) => {
  // x 10.5..43.8 of 100 columns -> columns 10..43; y 5.5..18 of 50 rows -> rows 5..17.
  const region = { x: 0.105, y: 0.11, w: 0.333, h: 0.25 };
  for (const [width, height] of [[100, 50], [640, 360], [1280, 720]] as const) {
    const gray = await runFfmpeg([
      '-f', 'lavfi', '-i', `color=white:size=${width}x${height}:rate=30`, '-frames:v', '1',
      '-vf', [...maskFilters([region]), 'format=gray'].join(','), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1',
    ]);
    t.equal(gray.length, width * height);
    const [left, top] = [Math.floor(width * region.x), Math.floor(height * region.y)];
    const [right, bottom] = [Math.ceil(width * (region.x + region.w)), Math.ceil(height * (region.y + region.h))];
    let wrong = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inside = x >= left && x < right && y >= top && y < bottom;
        if (gray[y * width + x] !== (inside ? 0 : 255)) wrong++;
      }
    }
    t.equal(wrong, 0, `${width}x${height}: black exactly on columns ${left}..${right - 1}, rows ${top}..${bottom - 1}`);
  }
});

// Fields the rest of the edge config requires; the consoles section is what these tests vary.
const REQUIRED = {
  origin: { ingestKey: 'profiles-mask-test-ingest-key' },
  auth: { keys: [{ id: 'k1', secret: 'profiles-mask-test-signing-secret-0123456789' }] },
};
const withConsoles = (consoles: unknown): unknown => ({ ...REQUIRED, consoles });

t.test('edge config: a stream is a profile name or {profile, masks}; unlisted consoles are refused by default', async (t) => {
  const c = loadEdgeConfig(withConsoles({ streams: { or1: 'ultrasound', or2: { profile: 'endoscopy-1080p', masks: [BANNER, { x: 0.7, y: 0, w: 0.3, h: 1 }] }, or3: { profile: 'ultrasound' } } }));
  t.equal(c.consoles.allowUnlisted, false, 'fail closed unless configured');
  t.same(c.consoles.streams, { or1: 'ultrasound', or2: { profile: 'endoscopy-1080p', masks: [BANNER, { x: 0.7, y: 0, w: 0.3, h: 1 }] }, or3: { profile: 'ultrasound' } });
  t.equal(loadEdgeConfig(withConsoles({ allowUnlisted: true })).consoles.allowUnlisted, true);
});

t.test('edge config: every mask problem listed with its path', async (t) => {
  const err = t.throws(() =>
    loadEdgeConfig(
      withConsoles({
        allowUnlisted: 'yes',
        streams: {
          or1: 'cardiology',
          or2: { profile: 'ultrasound', masks: [{ x: 0, y: 0, w: 1, h: 0.1, note: 'name' }, { x: -1, y: 'top', w: 0, h: 2 }] },
          or3: { masks: [] },
          or4: { profile: 'ultrasound', masks: Array.from({ length: MAX_MASK_REGIONS + 1 }, () => BANNER) },
          or5: 7,
        },
      }),
    ),
  ) as ScopecastError;
  t.equal(err.code, 'SC_ERR_CONFIG_INVALID');
  const problems = err.details?.['problems'] as string[];
  for (const expected of [
    '/consoles/allowUnlisted: must be boolean',
    '/consoles/streams/or1: must be one of ["endoscopy-1080p","ultrasound"]',
    '/consoles/streams/or2/masks/0: unknown key "note"',
    '/consoles/streams/or2/masks/1/x: must be >= 0',
    '/consoles/streams/or2/masks/1/y: must be number',
    '/consoles/streams/or2/masks/1/w: must be >= 0.001',
    '/consoles/streams/or2/masks/1/h: must be <= 1',
    "/consoles/streams/or3: must have required property 'profile'",
    `/consoles/streams/or4/masks: must NOT have more than ${MAX_MASK_REGIONS} items`,
    '/consoles/streams/or5: must be object',
  ]) {
    t.ok(problems.includes(expected), expected);
  }
  t.notOk(problems.some((p) => /must match "(then|else)" schema/.test(p)), 'no if/then/else noise');
  // Inside-the-frame rules run after the schema passes.
  const cross = t.throws(() =>
    loadEdgeConfig(withConsoles({ streams: { or1: { profile: 'endoscopy-1080p', masks: [BANNER, { x: 0.6, y: 0.5, w: 0.5, h: 0.5 }, { x: 0, y: 0.95, w: 1, h: 0.1 }] } } })),
  ) as ScopecastError;
  t.same((cross.details?.['problems'] as string[]).filter((p) => p.startsWith('/consoles')), [
    '/consoles/streams/or1/masks/1: x + w is 1.1, past the right edge of the frame (must be <= 1)',
    '/consoles/streams/or1/masks/2: y + h is 1.05, past the bottom edge of the frame (must be <= 1)',
  ]);
});

t.test('which console gets which profile: listed with its masks, unlisted refused unless allowed', async (t) => {
  const consoles = loadEdgeConfig(withConsoles({ streams: { or1: 'ultrasound', or2: { profile: 'endoscopy-1080p', masks: [BANNER] }, or3: { profile: 'ultrasound', masks: [] } } })).consoles;
  t.same(decideConsole(consoles, 'or1'), { accepted: true, profile: PROFILES.ultrasound, listed: true });
  const or2 = decideConsole(consoles, 'or2');
  t.same(or2, { accepted: true, profile: { ...ENDOSCOPY, masks: [BANNER] }, listed: true });
  t.equal(ENDOSCOPY.masks, undefined, 'the shared profile is not modified');
  t.same(decideConsole(consoles, 'or3'), { accepted: true, profile: PROFILES.ultrasound, listed: true }, 'no masks = the plain profile');
  for (const stream of ['or9', 'constructor', '__proto__', 'toString']) {
    t.same(decideConsole(consoles, stream), { accepted: false, reason: UNLISTED_REASON }, `${stream} is not listed`);
  }
  const open = loadEdgeConfig(withConsoles({ allowUnlisted: true, defaultProfile: 'ultrasound', streams: { or2: { profile: 'endoscopy-1080p', masks: [BANNER] } } })).consoles;
  t.same(decideConsole(open, 'or9'), { accepted: true, profile: PROFILES.ultrasound, listed: false }, 'allowUnlisted: default profile, no masks');
  t.same(decideConsole(open, 'or2'), { accepted: true, profile: { ...ENDOSCOPY, masks: [BANNER] }, listed: true });
  t.ok(isUnlistedRefusal(UNLISTED_REASON));
  t.ok(isUnlistedRefusal(new ScopecastError('SC_ERR_CONSOLE_UNLISTED', UNLISTED_REASON).message), 'the WHIP error message too');
  t.notOk(isUnlistedRefusal('stream is already being published'));
});

t.test('the example and docker configs list their consoles, with a banner mask on the endoscopy tower', async (t) => {
  for (const file of ['edge.example.json', 'edge.docker.json']) {
    const json = JSON.parse(readFileSync(new URL(`../configs/${file}`, import.meta.url), 'utf8')) as { consoles: unknown };
    const { consoles } = loadEdgeConfig(withConsoles(json.consoles));
    t.equal(consoles.allowUnlisted, false, `${file}: unlisted consoles refused`);
    const or1 = decideConsole(consoles, 'or1-endoscopy');
    t.ok(or1.accepted && (or1.profile.masks?.length ?? 0) > 0, `${file}: or1-endoscopy is masked`);
    t.ok(decideConsole(consoles, 'us1-ultrasound').accepted, `${file}: us1-ultrasound is listed`);
    t.notOk(decideConsole(consoles, 'demo').accepted, `${file}: anything else is refused`);
  }
});
