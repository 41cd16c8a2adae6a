// Which consoles this edge takes, and with which profile and PHI masks. Fail closed: a stream that
// is not listed is refused (the edge cannot know what on its picture must be masked), unless the
// config explicitly accepts unlisted consoles with the default profile and no masks.
import { PROFILES, type ConsoleProfile } from '../codecs/profiles/index.js';
import type { EdgeConfig } from '../configs/index.js';

/** Why an unlisted console is refused: the RTMP log line and the WHIP 403 (SC_ERR_CONSOLE_UNLISTED) detail. */
export const UNLISTED_REASON =
  'no console profile for this stream name in consoles.streams, so its PHI masks are unknown (consoles.allowUnlisted is off)';

export type ConsoleDecision =
  /** `listed` is false for a console taken under consoles.allowUnlisted (default profile, no masks). */
  | { accepted: true; profile: ConsoleProfile; listed: boolean }
  | { accepted: false; reason: string };

/** The profile (with the stream's PHI masks) a console gets, or why it is refused. Pure. */
export function decideConsole(consoles: Readonly<EdgeConfig['consoles']>, stream: string): ConsoleDecision {
  // Own keys only: "constructor" is a valid stream name and must not find Object.prototype's.
  const entry = Object.hasOwn(consoles.streams, stream) ? consoles.streams[stream] : undefined;
  if (entry === undefined) {
    return consoles.allowUnlisted
      ? { accepted: true, profile: PROFILES[consoles.defaultProfile], listed: false }
      : { accepted: false, reason: UNLISTED_REASON };
  }
  if (typeof entry === 'string') return { accepted: true, profile: PROFILES[entry], listed: true };
  const base: ConsoleProfile = PROFILES[entry.profile];
  const masks = entry.masks ?? [];
  return { accepted: true, profile: masks.length > 0 ? { ...base, masks } : base, listed: true };
}

/** A `rejected` event's reason (RTMP or WHIP) is the unlisted-console refusal. */
export function isUnlistedRefusal(reason: string): boolean {
  return reason.endsWith(UNLISTED_REASON);
}
