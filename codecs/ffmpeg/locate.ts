import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** FFMPEG_PATH wins, then the first ffmpeg on PATH. Returns null when none is found. */
export function locateBinary(name: 'ffmpeg' | 'ffprobe', env: NodeJS.ProcessEnv = process.env): string | null {
  const override = name === 'ffmpeg' ? env.FFMPEG_PATH : env.FFPROBE_PATH;
  if (override) return override;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}
