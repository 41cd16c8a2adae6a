// NTP 64-bit timestamps (RFC 3550 sender reports) from Unix milliseconds.
const NTP_UNIX_OFFSET_S = 2208988800n;

export function ntpFromUnixMs(ms: number): bigint {
  const whole = Math.floor(ms / 1000);
  const frac = Math.round(((ms - whole * 1000) / 1000) * 2 ** 32);
  const seconds = BigInt(whole) + NTP_UNIX_OFFSET_S;
  return (seconds << 32n) | BigInt(Math.min(frac, 2 ** 32 - 1));
}

export function unixMsFromNtp(ntp: bigint): number {
  const seconds = Number((ntp >> 32n) - NTP_UNIX_OFFSET_S);
  const frac = Number(ntp & 0xffffffffn) / 2 ** 32;
  return (seconds + frac) * 1000;
}
