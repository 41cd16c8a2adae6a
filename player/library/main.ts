// Entry of the library pages: the case list (/library) or the replay of one case (/library/<id>),
// whichever root element the page has. Controllers share one bus and are torn down in reverse.
import { Bus } from '../watch/bus.js';
import { isRecordingId } from '../shared/library-page.js';
import { setText } from '../status/dom.js';
import { RecordingsApi, toLibraryError } from './api.js';
import { BookmarkPanel } from './bookmark-panel.js';
import { CaseList } from './case-list.js';
import { ChapterList } from './chapter-list.js';
import { LibraryDebugState } from './debug-state.js';
import { caseTitle, formatDate, formatDuration } from './format.js';
import { AnnotationOverlay } from './overlay.js';
import { ReplayVideo } from './replay-video.js';
import type { LibraryEvents } from './types.js';

declare global {
  interface Window {
    __scopecastLibrary?: import('./types.js').LibraryDebugSnapshot;
  }
}

function required<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`library page is missing #${id}`);
  return el;
}

/** Same-origin absolute paths only: the page's CSP allows nothing else anyway. */
function localPath(value: string | undefined, fallback: string): string {
  return value && /^\/(?!\/)[A-Za-z0-9/_-]*$/.test(value) ? value.replace(/\/+$/, '') : fallback;
}

function parseFadeMs(value: string | undefined): number {
  const ms = Number(value);
  return Number.isInteger(ms) && ms >= 500 && ms <= 600_000 ? ms : 5000;
}

function startList(root: HTMLElement): () => void {
  const bus = new Bus<LibraryEvents>();
  const debug = new LibraryDebugState({ bus, target: window, page: 'list' });
  const list = new CaseList({
    api: new RecordingsApi({ apiUrl: localPath(root.dataset.apiUrl, '/api/recordings') }),
    rows: required('scopecast-case-rows', HTMLElement),
    empty: required('scopecast-empty', HTMLElement),
    status: required('scopecast-status', HTMLElement),
    libraryUrl: localPath(root.dataset.libraryUrl, '/library'),
    onList: (rows) => {
      debug.snapshot.summaries = rows;
      debug.snapshot.cases = rows.map((r) => r.id);
    },
    onError: (error) => bus.emit('error', error),
  });
  list.start();
  return () => {
    list.destroy();
    debug.destroy();
  };
}

function startReplay(root: HTMLElement): () => void {
  const id = root.dataset.recordingId;
  const status = required('scopecast-status', HTMLElement);
  if (!isRecordingId(id)) {
    setText(status, 'not a recording id');
    status.dataset.state = 'error';
    return () => undefined;
  }
  const mediaPrefix = localPath(root.dataset.mediaPrefix, '/recordings');
  const api = new RecordingsApi({ apiUrl: localPath(root.dataset.apiUrl, '/api/recordings') });
  const bus = new Bus<LibraryEvents>();
  const debug = new LibraryDebugState({ bus, target: window, page: 'replay' });
  const videoEl = required('scopecast-video', HTMLVideoElement);
  const video = new ReplayVideo({ video: videoEl, bus, source: `${mediaPrefix}/${encodeURIComponent(id)}/playlist.m3u8` });
  const seek = (atMs: number): void => {
    if (!video.seekToMediaTime(atMs)) bus.emit('error', { type: 'mediaError', details: 'the video is not loaded yet', fatal: false });
  };
  const overlay = new AnnotationOverlay({
    canvas: required('scopecast-overlay', HTMLCanvasElement),
    video: videoEl,
    bus,
    mediaTime: () => video.mediaTime(),
    fadeMs: parseFadeMs(root.dataset.fadeMs),
    onPaint: (paint) => {
      debug.snapshot.playheadMs = paint.playheadMs;
      debug.snapshot.drawn = paint.drawn;
      debug.snapshot.picture = paint.picture;
    },
  });
  const chapters = new ChapterList({ bus, container: required('scopecast-chapters', HTMLElement), seek });
  const bookmarks = new BookmarkPanel({
    bus,
    api,
    id,
    list: required('scopecast-bookmarks', HTMLElement),
    form: required('scopecast-bookmark-form', HTMLFormElement),
    input: required('scopecast-bookmark-label', HTMLInputElement),
    button: required('scopecast-bookmark-add', HTMLButtonElement),
    seek,
    mediaTime: () => video.mediaTime(),
  });
  const offs = [
    bus.on('details', (details) => {
      setText(required('scopecast-title', HTMLElement), caseTitle(details.title));
      const parts = [details.procedure, formatDate(details.startedAt), formatDuration(details.durationSec), details.live ? 'live' : null];
      setText(required('scopecast-subtitle', HTMLElement), parts.filter((p): p is string => !!p).join(' · '));
    }),
    bus.on('timeline', () => {
      setText(status, 'Ready');
      status.dataset.state = 'playing';
    }),
    bus.on('error', (error) => {
      setText(status, error.fatal ? `Cannot play: ${error.details}` : `Problem: ${error.details}`);
      status.dataset.state = 'error';
    }),
  ];

  // Details and the annotation track load beside the video; the overlay draws once both are in.
  api.get(id).then((details) => bus.emit('details', details), (error: unknown) => bus.emit('error', toLibraryError(error)));
  api.annotations(`${mediaPrefix}/${encodeURIComponent(id)}/annotations.jsonl`)
    .then((events) => bus.emit('annotations', events), (error: unknown) => bus.emit('error', toLibraryError(error)));
  video.start();

  return () => {
    for (const off of offs) off();
    bookmarks.destroy();
    chapters.destroy();
    overlay.destroy();
    video.destroy();
    debug.destroy();
  };
}

function start(): () => void {
  const list = document.getElementById('scopecast-library');
  if (list) return startList(list);
  const replay = document.getElementById('scopecast-replay');
  if (replay) return startReplay(replay);
  throw new Error('not a library page');
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
