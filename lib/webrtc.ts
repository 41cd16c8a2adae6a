// WebRTC plumbing shared by the edge (WHIP) and the origin (WHEP): ICE options from config,
// complete (non-trickle) answers, NAT 1:1 address announcement.
import { RTCRtpCodecParameters, type RTCPeerConnection } from 'werift';

export interface IceOptions {
  /** Public address written into host candidates (1:1 NAT); empty = local addresses. */
  announcedAddress: string;
  additionalHostAddresses: readonly string[];
  /** Bind ICE to this local IPv4 address only; empty = all. */
  interfaceAddress: string;
  /** [min, max] UDP ports, or empty. */
  portRange: readonly number[];
  iceServers: ReadonlyArray<{ urls: string; username?: string; credential?: string }>;
}

/** werift RTCPeerConnection options for these ICE settings (IPv4 only). */
export function iceConfig(ice: IceOptions): Record<string, unknown> {
  const range = ice.portRange.length === 2 ? ([ice.portRange[0]!, ice.portRange[1]!] as [number, number]) : undefined;
  return {
    iceServers: ice.iceServers.map((s) => ({ ...s })),
    ...(range ? { icePortRange: range } : {}),
    ...(ice.additionalHostAddresses.length ? { iceAdditionalHostAddresses: [...ice.additionalHostAddresses] } : {}),
    ...(ice.interfaceAddress ? { iceInterfaceAddresses: { udp4: ice.interfaceAddress } } : {}),
    iceUseIpv6: false,
  };
}

/** Candidate lines of an SDP with their address replaced by the announced (NAT) one. */
export function announceAddress(sdp: string, address: string): string {
  if (!address) return sdp;
  return sdp.replace(/^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$/gm, `$1${address}$3`);
}

/** Resolves when ICE gathering is complete (or after timeoutMs: answer with what we have). */
export function waitForGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') done();
    });
    function done(): void {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/**
 * The client half of WHIP/WHEP signalling: POST a complete offer, expect 201 with an SDP answer
 * and a Location. A refusal throws an Error carrying the HTTP status and body.
 */
export async function postOffer(url: string, offer: string, what: 'WHIP' | 'WHEP'): Promise<{ answer: string; location: string; status: number }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const body = await res.text();
  if (res.status !== 201) throw Object.assign(new Error(`${what} POST ${res.status}: ${body.slice(0, 300)}`), { status: res.status, body });
  return { answer: body, location: res.headers.get('location') ?? '', status: res.status };
}

/** Our H.264 offer/answer: constrained baseline-compatible, packetization-mode=1 (RFC 6184). */
export const H264_FMTP = 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1';

/** werift codec parameters for H.264 with NACK and PLI feedback. */
export function h264Codec(fmtp: string = H264_FMTP): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: 90000,
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
    parameters: fmtp,
  });
}
