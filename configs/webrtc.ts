// The WebRTC settings both tiers share (edge: WHIP, origin: WHEP): ICE, NAT, SDP limits.

export interface WebRtcCommonConfig {
  /** Serve WHIP (edge) / WHEP (origin). */
  enabled: boolean;
  /**
   * Address written into ICE host candidates instead of the local one: the public IP of a
   * 1:1 NAT (cloud VM, hospital firewall with port forwarding). Empty = local addresses.
   */
  announcedAddress: string;
  /** Extra local addresses to gather on (normally excluded ones, e.g. 127.0.0.1 for loopback tests). */
  additionalHostAddresses: string[];
  /** Bind ICE sockets to this local IPv4 address only (e.g. 127.0.0.1 in tests); empty = all. */
  interfaceAddress: string;
  /** UDP port range for ICE/media, [min, max]; empty = any port. Forward it on the firewall. */
  portRange: number[];
  /** STUN/TURN servers for this tier's own candidates. */
  iceServers: Array<{ urls: string; username?: string; credential?: string }>;
  /** Largest SDP offer accepted, bytes. */
  maxSdpBytes: number;
}

export const WEBRTC_COMMON_PROPERTIES = {
  enabled: { type: 'boolean', default: true },
  announcedAddress: { type: 'string', default: '', maxLength: 253 },
  additionalHostAddresses: { type: 'array', items: { type: 'string', minLength: 2, maxLength: 64 }, default: [] },
  interfaceAddress: { type: 'string', default: '', maxLength: 64 },
  portRange: { type: 'array', items: { type: 'integer', minimum: 1024, maximum: 65535 }, default: [], maxItems: 2 },
  iceServers: {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      additionalProperties: false,
      properties: {
        urls: { type: 'string', pattern: '^(stun|turns?):' },
        username: { type: 'string', nullable: true },
        credential: { type: 'string', nullable: true },
      },
      required: ['urls'],
    },
  },
  maxSdpBytes: { type: 'integer', default: 32 * 1024, minimum: 1024, maximum: 256 * 1024 },
} as const;

export const WEBRTC_COMMON_REQUIRED = ['enabled', 'announcedAddress', 'additionalHostAddresses', 'interfaceAddress', 'portRange', 'iceServers', 'maxSdpBytes'] as const;

/** Cross-field rules for the shared keys. */
export function webrtcProblems(c: WebRtcCommonConfig): string[] {
  const range = c.portRange;
  if (range.length === 1) return ['/webrtc/portRange: give [min, max] or leave empty'];
  if (range.length === 2 && !(range[0]! < range[1]!)) return ['/webrtc/portRange: min must be below max'];
  return [];
}
