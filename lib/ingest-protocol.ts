// The edge -> origin ingest protocol, shared by both tiers.
//   PUT    /ingest/<stream>/<rendition>/init      init segment (LL-HLS feed)
//   POST   /ingest/<stream>/<rendition>/fragment  one CMAF fragment = one LL-HLS part
//   POST   /ingest/<stream>/rt/stream             realtime feed: init + one fragment per frame, streamed
//   DELETE /ingest/<stream>                       the publisher left

export const INGEST_HEADERS = {
  key: 'x-scopecast-ingest-key',
  edge: 'x-scopecast-edge',
  profile: 'x-scopecast-profile',
  partTarget: 'x-scopecast-part-target',
  bandwidth: 'x-scopecast-bandwidth',
} as const;

/** Content type of the streaming realtime feed (one long POST, fragments written as they come). */
export const CMAF_STREAM_TYPE = 'application/vnd.scopecast.cmaf-stream';
