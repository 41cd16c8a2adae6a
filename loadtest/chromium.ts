// Headless Debian Chromium driven by playwright-core (never a downloaded browser). As root it needs
// --no-sandbox; the background-networking flags keep it from dialling out of a closed network.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
] as const;

export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Extra flags for WebRTC on loopback: real host candidates instead of mDNS names. */
export const WEBRTC_CHROMIUM_ARGS = ['--disable-features=WebRtcHideLocalIpsWithMdns'] as const;
