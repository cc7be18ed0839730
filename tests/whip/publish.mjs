// Publishes synthetic media from Node to a session URL for a few seconds:
//   node publish.mjs URL TOKEN SECONDS [custom | mute | live SOURCE...]
// With `mute`, video is turned off one second into publishing and on again a second later,
// printing `video off at T` / `video on at T` (wall time of each call) and the events.
// With `live`, the publisher starts with audio off (publishAudio false) and 640x480 video,
// turns audio on a second into publishing (`audio on at T`), then switches the video to each
// SOURCE in turn, a second apart, printing `switch SOURCE ok at T` or
// `switch SOURCE failed CODE at T` (T: when the switch completed). Its consent callback refuses
// a switch to the synthetic camera (a request for synthetic video alone): 1500.
// With `custom`, the program pushes the media itself: 160x120 RGBA (the publisher scales it to
// its 320x240) at 30 fps, red, green and blue for a second each in turn, and a 440 Hz tone.
// Each size video is sent at, as the network adaptation changes it, is printed as
// `size OLDxOLD to NEWxNEW at T`.
// The session's ICE settings come from the environment, when set: LP_ICE_SERVER (one URL),
// LP_ICE_USERNAME, LP_ICE_CREDENTIAL, LP_ICE_TRANSPORT_POLICY and LP_ICE_TIMEOUT_MS. The
// synthetic camera's resolution is LP_RESOLUTION when set (WxH), else 1280x720 (`custom` and
// `live` keep theirs).
// Prints `ok` or `error CODE NAME: message`; tests/whip/test_whip_bindings.py,
// test_whip_custom.py and tests/network check what the receiver decoded.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { initPublisher, initSession } = require('../../bindings-node');
const [url, token, seconds, mode, ...sources] = process.argv.slice(2);
const custom = mode === 'custom';
const mute = mode === 'mute';
const live = mode === 'live';
const wallNow = () => (Date.now() / 1000).toFixed(3);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const publisher = await initPublisher(
  custom
    ? { videoSource: 'custom', audioSource: 'custom', resolution: '320x240' }
    : {
      videoSource: 'synthetic',
      audioSource: 'synthetic',
      resolution: live ? '640x480' : process.env.LP_RESOLUTION || '1280x720',
      frameRate: 30,
      publishAudio: !live,
      accessRequest: live ? ({ video, audio }) => !(video === 'synthetic' && audio === null) : null,
    },
);
const env = process.env;
const sessionOptions = {};
if (env.LP_ICE_SERVER) {
  sessionOptions.iceServers = [
    { urls: env.LP_ICE_SERVER, username: env.LP_ICE_USERNAME, credential: env.LP_ICE_CREDENTIAL },
  ];
}
if (env.LP_ICE_TRANSPORT_POLICY) sessionOptions.iceTransportPolicy = env.LP_ICE_TRANSPORT_POLICY;
if (env.LP_ICE_TIMEOUT_MS) sessionOptions.iceTimeoutMs = Number(env.LP_ICE_TIMEOUT_MS);
let session;
try {
  session = initSession(url, sessionOptions);
} catch (err) {
  console.log(`error ${err.code} ${err.name}: ${err.message}`);
  publisher.close();
  process.exit(1);
}
const pushing = custom ? pushMedia(publisher) : null;
// Each size video is sent at, as it changes (the network adaptation steps down and up).
publisher.on('videoDimensionsChanged', ({ oldWidth, oldHeight, newWidth, newHeight }) =>
  console.log(`size ${oldWidth}x${oldHeight} to ${newWidth}x${newHeight} at ${wallNow()}`),
);
try {
  await session.connect(token);
  await session.publish(publisher);
  if (mute) {
    for (const name of ['videoDisabled', 'videoEnabled']) {
      publisher.on(name, ({ reason }) => console.log(`event ${name} ${reason}`));
    }
    for (const on of [false, true]) {
      await sleep(1000);
      publisher.publishVideo(on);
      console.log(`video ${on ? 'on' : 'off'} at ${wallNow()}`);
    }
  }
  if (live) {
    await sleep(1000);
    publisher.publishAudio(true);
    console.log(`audio on at ${wallNow()}`);
    for (const source of sources) {
      await sleep(1000);
      try {
        await publisher.setVideoSource(source);
        console.log(`switch ${source} ok at ${wallNow()}`);
      } catch (err) {
        console.log(`switch ${source} failed ${err.code} at ${wallNow()}`);
      }
    }
  }
  await sleep(Number(seconds) * 1000);
  await session.unpublish(publisher);
  console.log('ok');
} catch (err) {
  console.log(`error ${err.code} ${err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  if (pushing) clearInterval(pushing);
  session.close();
  publisher.close();
}

// A host's capture loop on a timer: video at 30 fps, audio kept 20 ms ahead, both from start.
function pushMedia(target) {
  const colors = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
  const rgba = new Uint8Array(160 * 120 * 4);
  const start = performance.now();
  let frames = 0;
  let audioMs = 0;
  let sample = 0;
  const tick = () => {
    const t = (performance.now() - start) / 1000;
    while (audioMs <= t * 1000 + 20) {
      const pcm = new Int16Array(480);
      for (let i = 0; i < pcm.length; i++, sample++) {
        pcm[i] = Math.round(8192 * Math.sin((2 * Math.PI * 440 * sample) / 48000));
      }
      target.pushAudioFrame({ samples: pcm });
      audioMs += 10;
    }
    if (frames <= t * 30) {
      const [r, g, b] = colors[Math.floor(t) % 3];
      for (let i = 0; i < rgba.length; i += 4) rgba.set([r, g, b, 255], i);
      target.pushVideoFrame({ data: rgba, width: 160, height: 120, format: 'rgba', timestampUs: Math.round(t * 1e6) });
      frames++;
    }
  };
  tick();
  return setInterval(tick, 5);
}
