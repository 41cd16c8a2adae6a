// Entry of the library pages: the case list (/library) or the replay of one case (/library/<id>),
// whichever root element the page has, with the access token from the page URL (carried on to the
// next page in the links). Controllers share one bus and are torn down in reverse.
import { AccessToken, isAccessStatus } from '../shared/access-token.js';
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

const REFRESH_URL = '/api/tokens/refresh';

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

/** The stream a recording id belongs to (`<stream>-<yyyymmddThhmmss>-<hex>`). */
function streamOfRecording(id: string): string {
  return id.replace(/-\d{8}T\d{6}-[0-9a-f]{4}$/, '');
}

/**
 * The page's token: out of the address bar first, refreshed, and the one judge of a refusal. On
 * a replay page the recording's stream words a 403 (a link for another stream).
 */
function pageAccess(recordingId: string | undefined): AccessToken {
  const access = new AccessToken({
    href: location.href,
    history: window.history,
    refreshUrl: REFRESH_URL,
    ...(isRecordingId(recordingId) ? { stream: streamOfRecording(recordingId), purpose: 'this recording' } : { purpose: 'the teaching library' }),
  });
  window.__scopecastAccess = access.debug;
  return access;
}

/** Shows a denial on the status line; the page's content is hidden by CSS (data-access). */
function showDenied(root: HTMLElement, status: HTMLElement, message: string): void {
  root.dataset.access = 'denied';
  setText(status, message);
  status.dataset.state = 'denied';
}

function startList(root: HTMLElement, access: AccessToken): () => void {
  const bus = new Bus<LibraryEvents>();
  const debug = new LibraryDebugState({ bus, target: window, page: 'list' });
  const status = required('scopecast-status', HTMLElement);
  const list = new CaseList({
    api: new RecordingsApi({ apiUrl: localPath(root.dataset.apiUrl, '/api/recordings'), headers: () => access.headers() }),
    rows: required('scopecast-case-rows', HTMLElement),
    empty: required('scopecast-empty', HTMLElement),
    status,
    libraryUrl: localPath(root.dataset.libraryUrl, '/library'),
    // The replay page needs the token too: it rides in the case link (the page strips it again).
    link: (href) => access.link(href),
    onList: (rows) => {
      debug.snapshot.summaries = rows;
      debug.snapshot.cases = rows.map((r) => r.id);
    },
    onError: (error) => {
      bus.emit('error', error);
      if (isAccessStatus(error.httpStatus)) access.deny(error);
    },
  });
  const offDenied = access.on('denied', (denial) => {
    list.destroy();
    showDenied(root, status, denial.message);
  });
  access.start();
  if (!access.denial) list.start();
  return () => {
    offDenied();
    list.destroy();
    debug.destroy();
  };
}

function startReplay(root: HTMLElement, access: AccessToken): () => void {
  const id = root.dataset.recordingId;
  const status = required('scopecast-status', HTMLElement);
  if (!isRecordingId(id)) {
    setText(status, 'not a recording id');
    status.dataset.state = 'error';
    return () => undefined;
  }
  // Back to the list with the token.
  const allCases = document.getElementById('scopecast-all-cases');
  if (allCases instanceof HTMLAnchorElement) allCases.href = access.link(allCases.getAttribute('href') ?? '/library');
  const mediaPrefix = localPath(root.dataset.mediaPrefix, '/recordings');
  const headers = (): Record<string, string> => access.headers();
  const api = new RecordingsApi({ apiUrl: localPath(root.dataset.apiUrl, '/api/recordings'), headers });
  const bus = new Bus<LibraryEvents>();
  const debug = new LibraryDebugState({ bus, target: window, page: 'replay' });
  const videoEl = required('scopecast-video', HTMLVideoElement);
  const video = new ReplayVideo({ video: videoEl, bus, source: `${mediaPrefix}/${encodeURIComponent(id)}/playlist.m3u8`, requestHeaders: headers });
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
  const form = required('scopecast-bookmark-form', HTMLFormElement);
  // Trainees watch; experts, surgeons and admins mark (the server decides; this only spares a
  // trainee a form that would be refused).
  form.hidden = access.role === 'trainee';
  const bookmarks = new BookmarkPanel({
    bus,
    api,
    id,
    list: required('scopecast-bookmarks', HTMLElement),
    form,
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
      if (access.denial) return;
      setText(status, 'Ready');
      status.dataset.state = 'playing';
    }),
    bus.on('error', (error) => {
      // A refused read (details, track, playlist, segment) is the page's access: one verdict.
      if (isAccessStatus(error.httpStatus)) {
        access.deny(error);
        return;
      }
      if (access.denial) return;
      setText(status, error.fatal ? `Cannot play: ${error.details}` : `Problem: ${error.details}`);
      status.dataset.state = 'error';
    }),
    access.on('denied', (denial) => {
      video.destroy();
      showDenied(root, status, denial.message);
    }),
  ];

  access.start();
  if (!access.denial) {
    // Details and the annotation track load beside the video; the overlay draws once both are in.
    api.get(id).then((details) => bus.emit('details', details), (error: unknown) => bus.emit('error', toLibraryError(error)));
    api.annotations(`${mediaPrefix}/${encodeURIComponent(id)}/annotations.jsonl`)
      .then((events) => bus.emit('annotations', events), (error: unknown) => bus.emit('error', toLibraryError(error)));
    video.start();
  }

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
  const replay = document.getElementById('scopecast-replay');
  // Before anything else: the token leaves the address bar.
  const access = pageAccess(replay?.dataset.recordingId);
  let stop: () => void;
  if (list) stop = startList(list, access);
  else if (replay) stop = startReplay(replay, access);
  else throw new Error('not a library page');
  return () => {
    stop();
    access.destroy();
  };
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
