// Recording tests: an origin with recordings in a temp dir, CMAF ingest by inject, and CMAF made
// on the fly by ffmpeg with prft wall clocks restamped to follow media time (a fast encode stamps
// its whole run within a few ms, which would make every segment's PROGRAM-DATE-TIME the same).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listBoxes, parseFragment, parseInit } from '../../codecs/fmp4/index.js';
import type { AnnotationHub } from '../../origin/annotations/hub.js';
import { build, type OriginApp } from '../../origin/index.js';
import type { RecordingService } from '../../origin/recording/index.js';
import { testAuthConfig } from './auth.js';
import type { Teardownable } from './browser.js';
import { cmafFixture } from './fixtures.js';

export const run = promisify(execFile);
export const INGEST_KEY = 'recording-test-ingest-key-0123';
export const ingestHeaders = { 'x-scopecast-ingest-key': INGEST_KEY, 'content-type': 'application/octet-stream' };

export interface RecordingOrigin {
  origin: OriginApp;
  hub: AnnotationHub;
  recordings: RecordingService;
  /** The recordings directory (a fresh temp dir). */
  dir: string;
}

export interface RecordingOriginOptions {
  recordings?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  reconnectGraceMs?: number;
}

/**
 * An origin recording into a temp dir (its own in-process annotation hub and recording service),
 * with the test signing key (helpers/auth.ts: tokens for the API) and its audit trail in that dir.
 */
export async function recordingOrigin(t: Teardownable, options: RecordingOriginOptions = {}): Promise<RecordingOrigin> {
  const parent = await mkdtemp(join(tmpdir(), 'scopecast-rec-'));
  const dir = join(parent, 'recordings');
  const origin = await build({
    ingest: { keys: [INGEST_KEY] },
    recordings: {
      dir,
      ...(options.reconnectGraceMs !== undefined ? { reconnectGraceSeconds: options.reconnectGraceMs / 1000 } : {}),
      ...options.recordings,
    },
    annotations: { ...options.annotations },
    auth: testAuthConfig(),
    audit: { file: join(parent, 'audit.jsonl') },
    logLevel: 'silent',
  });
  t.teardown(async () => {
    await origin.close();
    await rm(parent, { recursive: true, force: true });
  });
  return { origin, hub: origin.annotations, recordings: origin.recordings, dir };
}

export interface Cmaf {
  init: Buffer;
  fragments: Buffer[];
}

export const avFixture = (): Cmaf => cmafFixture('av.cmaf');

export async function putInit(o: OriginApp, stream: string, init: Buffer): Promise<number> {
  const res = await o.app.inject({ method: 'PUT', url: `/ingest/${stream}/main/init`, headers: { ...ingestHeaders, 'x-scopecast-part-target': '0.2' }, payload: init });
  return res.statusCode;
}

export async function postFragment(o: OriginApp, stream: string, fragment: Buffer): Promise<number> {
  return (await o.app.inject({ method: 'POST', url: `/ingest/${stream}/main/fragment`, headers: ingestHeaders, payload: fragment })).statusCode;
}

export async function endStream(o: OriginApp, stream: string): Promise<number> {
  return (await o.app.inject({ method: 'DELETE', url: `/ingest/${stream}`, headers: ingestHeaders })).statusCode;
}

/** Init + every fragment, as an edge would push them. */
export async function ingestCmaf(o: OriginApp, stream: string, cmaf: Cmaf): Promise<void> {
  if ((await putInit(o, stream, cmaf.init)) !== 201) throw new Error('init refused');
  for (const f of cmaf.fragments) {
    const status = await postFragment(o, stream, f);
    if (status !== 201) throw new Error(`fragment refused: ${status}`);
  }
}

const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** Rewrites every fragment's prft wall clock to baseMs + the fragment's media start (copies). */
export function restampPrft(cmaf: Cmaf, baseMs: number): Cmaf {
  const info = parseInit(cmaf.init);
  const fragments = cmaf.fragments.map((original) => {
    const data = Buffer.from(original);
    const start = parseFragment(data, info).startSec ?? 0;
    const prft = listBoxes(data, 0, data.length, 'fragment').find((b) => b.type === 'prft');
    if (!prft) throw new Error('fragment has no prft box');
    const ms = baseMs + start * 1000;
    const seconds = Math.floor(ms / 1000);
    // payload: version+flags (4), reference_track_ID (4), then the 64-bit NTP timestamp.
    data.writeUInt32BE((seconds + NTP_UNIX_OFFSET_S) >>> 0, prft.payload + 8);
    data.writeUInt32BE(Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000) >>> 0, prft.payload + 12);
    return data;
  });
  return { init: cmaf.init, fragments };
}

/**
 * `seconds` of H.264 test pattern (+ AAC) as CMAF: 30 fps, a keyframe every second (so 1 s
 * segments), ~200 ms fragments, a prft box before each, like the edge's output.
 */
export async function makeCmaf(options: { seconds: number; size: string }): Promise<Cmaf> {
  const dir = await mkdtemp(join(tmpdir(), 'scopecast-cmaf-'));
  try {
    const file = join(dir, 'out.cmaf');
    await run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${options.size}:rate=30`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(options.seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '200000', '-f', 'mp4', '-write_prft', 'wallclock',
      file,
    ]);
    const { Fmp4Splitter } = await import('../../codecs/fmp4/index.js');
    const units = new Fmp4Splitter().push(await readFile(file));
    const [first, ...rest] = units;
    if (first?.kind !== 'init') throw new Error('ffmpeg output does not start with an init segment');
    return { init: first.data, fragments: rest.map((u) => u.data) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
