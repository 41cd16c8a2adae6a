// A WHIP publisher in Node for tests: ffmpeg encodes a test pattern to H.264 RTP on loopback,
// and each packet is re-sent through a werift send-only track (werift rewrites SSRC and payload
// type to the negotiated ones). ffmpeg ignores PLI, so keyframes come every -g frames.
import { createSocket, type Socket } from 'node:dgram';
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import { FfmpegProcess } from '../../codecs/ffmpeg/index.js';
import { h264Codec } from '../../lib/webrtc.js';
import { postSdpOffer } from '../../loadtest/whep-client.js';

export interface WhipPublisherOptions {
  size?: string;
  /** H.264 fmtp to offer (default: constrained baseline, packetization-mode=1). */
  fmtp?: string;
  /** Publisher token for the stream, sent as `Authorization: Bearer` on POST and DELETE. */
  token?: string;
}

export class WhipPublisher {
  readonly #pc: RTCPeerConnection;
  readonly #track = new MediaStreamTrack({ kind: 'video' });
  readonly #options: WhipPublisherOptions;
  readonly #headers: Record<string, string>;
  #socket: Socket | null = null;
  #ffmpeg: FfmpegProcess | null = null;
  #location: string | null = null;
  #base = '';
  #closed = false;
  /** RTCP PLIs received from the edge. */
  pliReceived = 0;
  packetsSent = 0;

  constructor(options: WhipPublisherOptions = {}) {
    this.#options = options;
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.#pc = new RTCPeerConnection({
      codecs: {
        video: [h264Codec(options.fmtp)],
      },
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
    });
  }

  get pc(): RTCPeerConnection {
    return this.#pc;
  }

  get ffmpegPid(): number | undefined {
    return this.#ffmpeg?.pid;
  }

  /** A complete offer (all candidates), as a browser would POST it. */
  async offer(): Promise<string> {
    const transceiver = this.#pc.addTransceiver(this.#track, { direction: 'sendonly' });
    transceiver.sender.onPictureLossIndication.subscribe(() => (this.pliReceived += 1));
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    await new Promise<void>((resolve) => {
      if (this.#pc.iceGatheringState === 'complete') return resolve();
      const sub = this.#pc.iceGatheringStateChange.subscribe((s) => {
        if (s === 'complete') {
          sub.unSubscribe();
          resolve();
        }
      });
    });
    return this.#pc.localDescription?.sdp ?? '';
  }

  /** Start the RTP source, POST the offer, apply the answer. */
  async connect(url: string): Promise<{ status: number; location: string }> {
    const sdp = await this.offer();
    await this.#startSource();
    const { answer, location, status } = await postSdpOffer(url, sdp, 'WHIP', this.#headers);
    this.#location = location || null;
    this.#base = new URL(url).origin;
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return { status, location };
  }

  /** Stop sending without DELETE (a publisher that went silent). */
  async stopMedia(): Promise<void> {
    await this.#ffmpeg?.close();
  }

  /** DELETE the Location (unless skipped), stop the source, close the peer connection. Idempotent. */
  async close(options: { skipDelete?: boolean } = {}): Promise<number | null> {
    if (this.#closed) return null;
    this.#closed = true;
    let status: number | null = null;
    if (this.#location && !options.skipDelete) {
      status = await fetch(this.#base + this.#location, { method: 'DELETE', headers: this.#headers }).then((r) => r.status, () => null);
    }
    await this.#ffmpeg?.close();
    await new Promise<void>((resolve) => (this.#socket ? this.#socket.close(() => resolve()) : resolve()));
    this.#socket = null;
    await this.#pc.close().catch(() => {});
    return status;
  }

  async #startSource(): Promise<void> {
    const socket = createSocket('udp4');
    this.#socket = socket;
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    socket.on('message', (packet) => {
      if (this.#closed) return;
      this.packetsSent += 1;
      this.#track.writeRtp(packet);
    });
    this.#ffmpeg = new FfmpegProcess({
      args: [
        '-hide_banner', '-loglevel', 'error', '-nostdin',
        '-re', '-f', 'lavfi', '-i', `testsrc2=size=${this.#options.size ?? '1280x720'}:rate=30`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
        '-f', 'rtp', '-pkt_size', '1200', `rtp://127.0.0.1:${socket.address().port}`,
      ],
    });
  }
}
