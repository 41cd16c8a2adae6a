// Second bundle of the expert page: the LL-HLS fallback (video.js + hls.js, most of the page's
// weight). Loaded only when WebRTC fails, or in the background once WebRTC plays, so the WHEP
// request starts as soon as the small main bundle has run.
import { LlHlsFallback } from './llhls-fallback.js';
import { FALLBACK_GLOBAL } from './fallback-loader.js';

(globalThis as unknown as Record<string, unknown>)[FALLBACK_GLOBAL] = LlHlsFallback;
