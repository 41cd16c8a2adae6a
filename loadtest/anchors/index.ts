// The anchors the side-by-side bench compares scopecast with: servers run on free 127.0.0.1
// ports and their viewers, measured like scopecast's own.
export { NmsFlvAnchor } from './nms-flv.js';
export { NginxRtmpAnchor, nginxRtmpConf, type NginxRtmpConfOptions } from './nginx-rtmp.js';
export { ensureNginxRtmp, NGINX_BINARY, RTMP_MODULE } from './nginx-install.js';
export { LiveEdgeHlsClient, parseHlsPlaylist, type HlsMediaPlaylist, type HlsSegment, type FetchedSegment } from './hls-live-edge.js';
export { measureHttpFlv, measureLiveEdgeHls } from './viewers.js';
export { spawnOwned, runVisible, type OwnedChild, type ChildExit } from './child.js';
