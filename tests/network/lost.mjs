// Publishes synthetic media from Node and reports what happens when the connection is lost or
// narrows:
//   node lost.mjs URL TOKEN RECONNECT_TIMEOUT_MS [VIDEO_SOURCE RESOLUTION]
// (video `synthetic` at 320x240 unless given). Prints `PUBLISHING` once media flows, then one
// line per event as it comes (`event sessionReconnecting`, `event streamDestroyed
// networkDisconnected`, `event videoDisabled quality`, ...), and ends
// after `sessionDisconnected` or `sessionReconnected` following a destroyed stream (or 60 s)
// with `final video_frames_sent=N packets_sent=N` from the publisher's stats.
// tests/network/test_connectivity.py kills the receiver once PUBLISHING is printed.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { initPublisher, initSession } = require('../../bindings-node');
const [url, token, reconnectTimeoutMs, videoSource, resolution] = process.argv.slice(2);

const publisher = await initPublisher({
  videoSource: videoSource ?? 'synthetic',
  audioSource: 'synthetic',
  resolution: resolution ?? '320x240',
});
publisher.on('videoDisableWarning', () => console.log('event videoDisableWarning'));
publisher.on('videoDisableWarningLifted', () => console.log('event videoDisableWarningLifted'));
publisher.on('videoDisabled', ({ reason }) => console.log(`event videoDisabled ${reason}`));
publisher.on('videoEnabled', ({ reason }) => console.log(`event videoEnabled ${reason}`));
const session = initSession(url, { reconnectTimeoutMs: Number(reconnectTimeoutMs) });
let destroyed = false;
const settled = new Promise((resolve) => {
  publisher.on('streamDestroyed', ({ reason }) => {
    console.log(`event streamDestroyed ${reason}`);
    destroyed = true;
  });
  session.on('sessionReconnecting', () => console.log('event sessionReconnecting'));
  session.on('sessionReconnected', () => {
    console.log('event sessionReconnected');
    if (destroyed) resolve();
  });
  session.on('sessionDisconnected', ({ reason }) => {
    console.log(`event sessionDisconnected ${reason}`);
    resolve();
  });
  setTimeout(resolve, 60_000).unref();
});
await session.connect(token);
await session.publish(publisher);
console.log('PUBLISHING');
await settled;
const stats = await publisher.getStats();
console.log(`final video_frames_sent=${stats.videoFramesSent} packets_sent=${stats.packetsSent}`);
session.close();
publisher.close();
