// WebRTC plumbing shared by the edge (WHIP) and the origin (WHEP): ICE options from config,
// complete (non-trickle) answers, NAT 1:1 address announcement.
import type { RTCPeerConnection } from 'werift';

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
