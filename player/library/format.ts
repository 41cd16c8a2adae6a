// Pure text for the library pages.

export const DASH = '—';

/** 83.4 -> "1:23", 3725 -> "1:02:05". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return DASH;
  const total = Math.floor(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A mark's place in the case: its media time minus the first frame's. */
export function formatOffset(atMs: number, mediaStartMs: number | null): string {
  if (mediaStartMs === null) return DASH;
  return formatDuration(Math.max(0, (atMs - mediaStartMs) / 1000));
}

/** "2026-11-26 14:03" in the viewer's time zone. */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return DASH;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function caseTitle(title: string | null): string {
  return title && title.trim() !== '' ? title : 'Untitled case';
}
