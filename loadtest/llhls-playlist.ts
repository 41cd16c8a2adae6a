// Pure parser for the parts of an LL-HLS media playlist a low-latency client needs.

export interface ParsedPart {
  uri: string;
  msn: number;
  index: number;
  duration: number;
  independent: boolean;
}

export interface ParsedMediaPlaylist {
  mediaSequence: number;
  mapUri: string | null;
  partTarget: number | null;
  partHoldBack: number | null;
  canBlockReload: boolean;
  parts: ParsedPart[];
  preloadHint: string | null;
  ended: boolean;
  /** msn and part index a blocking reload should ask for next. */
  next: { msn: number; part: number };
}

const attr = (line: string, name: string): string | undefined => {
  const m = new RegExp(`(?:^|[:,])${name}=("([^"]*)"|[^,]*)`).exec(line);
  return m ? (m[2] ?? m[1]) : undefined;
};

export function parseMediaPlaylist(text: string): ParsedMediaPlaylist {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== '#EXTM3U') throw new Error('not an M3U8 playlist');
  let msn = 0;
  let index = 0;
  const out: ParsedMediaPlaylist = {
    mediaSequence: 0,
    mapUri: null,
    partTarget: null,
    partHoldBack: null,
    canBlockReload: false,
    parts: [],
    preloadHint: null,
    ended: false,
    next: { msn: 0, part: 0 },
  };
  for (const line of lines) {
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      out.mediaSequence = msn = Number(line.slice(22));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      out.mapUri = attr(line, 'URI') ?? null;
    } else if (line.startsWith('#EXT-X-PART-INF:')) {
      out.partTarget = Number(attr(line, 'PART-TARGET'));
    } else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      const hold = attr(line, 'PART-HOLD-BACK');
      out.partHoldBack = hold === undefined ? null : Number(hold);
      out.canBlockReload = attr(line, 'CAN-BLOCK-RELOAD') === 'YES';
    } else if (line.startsWith('#EXT-X-PART:')) {
      out.parts.push({
        uri: attr(line, 'URI') ?? '',
        msn,
        index: index++,
        duration: Number(attr(line, 'DURATION')),
        independent: attr(line, 'INDEPENDENT') === 'YES',
      });
    } else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) {
      out.preloadHint = attr(line, 'URI') ?? null;
    } else if (line === '#EXT-X-ENDLIST') {
      out.ended = true;
    } else if (line && !line.startsWith('#')) {
      msn += 1; // a segment URI closes the segment
      index = 0;
    }
  }
  out.next = { msn, part: index };
  return out;
}

/** The first line after EXT-X-STREAM-INF in a master playlist. */
export function firstVariantUri(master: string): string {
  const lines = master.split(/\r?\n/);
  const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  const uri = i >= 0 ? lines[i + 1] : undefined;
  if (!uri) throw new Error('master playlist has no variant');
  return uri;
}
