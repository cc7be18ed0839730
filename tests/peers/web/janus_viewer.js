// A Janus VideoRoom subscriber in the browser, for tests/peers/chromium_viewer.py: it joins
// one publisher's feed with janus.js and records what Chromium makes of it in `window.viewer`,
// which Python reads through Playwright:
//   state   'starting', 'subscribed' (Janus took the answer: `start` is ok) or 'failed'
//           (`error` says why; `timedOut` when the room had no publisher in time)
//   frames  [time, presentedFrames, width, height] of each requestVideoFrameCallback (the
//           latest FRAMES_KEPT); times are ms since the epoch
//   sizes   [time, width, height] each time the size of the frames changed
//   levels  [time, rms] of the remote audio every LEVEL_EVERY_MS, from a WebAudio
//           AnalyserNode (samples -1..1, so a full-scale sine is 0.707)
//   events  what Janus and janus.js said on the way (plugin events, ICE and WebRTC states)
// `snapshot()` returns all of it with the decoder's own counters (getStats); `switchSubstream`
// asks Janus for another simulcast layer.
'use strict';

(function () {
  const FRAMES_KEPT = 1800;
  const LEVELS_KEPT = 200;
  const EVENTS_KEPT = 100;
  const LEVEL_EVERY_MS = 50;
  const params = new URLSearchParams(location.search);
  const room = Number(params.get('room'));
  const pin = params.get('pin');
  const timeoutMs = Number(params.get('timeout') || 15) * 1000;
  const now = () => performance.timeOrigin + performance.now();
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  class Timeout extends Error {}

  const viewer = {
    state: 'starting',
    error: null,
    timedOut: false,
    feed: params.has('feed') ? Number(params.get('feed')) : null,
    streams: [],
    events: [],
    frames: [],
    callbacks: 0,
    sizes: [],
    levels: [],
    audioState: null,
  };
  window.viewer = viewer;
  let janus = null;
  let handle = null;
  const stream = new MediaStream();
  // Plugin events awaited: {predicate, resolve, reject}.
  const waiters = [];

  function keep(list, item, most) {
    list.push(item);
    if (list.length > most) list.splice(0, list.length - most);
  }

  function event(what) {
    keep(viewer.events, { time: now(), ...what }, EVENTS_KEPT);
  }

  function fail(error) {
    if (viewer.state === 'failed') return;
    viewer.state = 'failed';
    viewer.timedOut = error instanceof Timeout;
    viewer.error = error instanceof Error ? error.message : String(error);
    console.error(`viewer: ${viewer.error}`);
  }

  // The next plugin event that satisfies `predicate(msg, jsep)`: {msg, jsep}. An event with
  // an error_code rejects the oldest waiter instead.
  function next(predicate, what) {
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve, reject };
      waiters.push(waiter);
      setTimeout(() => {
        const at = waiters.indexOf(waiter);
        if (at >= 0) {
          waiters.splice(at, 1);
          reject(new Timeout(`no ${what} within ${timeoutMs / 1000} s`));
        }
      }, timeoutMs);
    });
  }

  function onmessage(msg, jsep) {
    event({ plugin: msg, jsep: jsep ? jsep.type : undefined });
    if (msg.error_code !== undefined && waiters.length) {
      waiters.shift().reject(new Error(`Janus refused: ${msg.error_code} ${msg.error}`));
      return;
    }
    const at = waiters.findIndex((w) => w.predicate(msg, jsep));
    if (at >= 0) waiters.splice(at, 1)[0].resolve({ msg, jsep });
  }

  // A request to the plugin; a synchronous one's data (an asynchronous one answers through
  // onmessage).
  function send(message, jsep) {
    return new Promise((resolve, reject) => {
      handle.send({
        message,
        jsep,
        success: (data) => (data && data.error_code !== undefined
          ? reject(new Error(`Janus refused ${message.request}: ${data.error_code} ${data.error}`))
          : resolve(data)),
        error: (error) => reject(new Error(`${message.request}: ${error}`)),
      });
    });
  }

  // Sends `message` and waits for the plugin event satisfying `predicate`.
  async function request(message, jsep, predicate, what) {
    const reply = next(predicate, what);
    try {
      await send(message, jsep);
    } catch (error) {
      reply.catch(() => {});
      throw error;
    }
    return reply;
  }

  async function firstPublisher() {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const data = await send({ request: 'listparticipants', room });
      const publishers = (data.participants || []).filter((p) => p.publisher);
      if (publishers.length) return publishers[0].id;
      if (Date.now() > deadline) {
        throw new Timeout(`no publisher in room ${room} within ${timeoutMs / 1000} s`);
      }
      await sleep(100);
    }
  }

  function watchFrames(video) {
    const onFrame = (_, meta) => {
      const time = now();
      viewer.callbacks += 1;
      keep(viewer.frames, [time, meta.presentedFrames, meta.width, meta.height], FRAMES_KEPT);
      const last = viewer.sizes[viewer.sizes.length - 1];
      if (!last || last[1] !== meta.width || last[2] !== meta.height) {
        viewer.sizes.push([time, meta.width, meta.height]);
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  function listen(track) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    setInterval(() => {
      viewer.audioState = context.state;
      if (context.state === 'suspended') context.resume();
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      keep(viewer.levels, [now(), Math.sqrt(sum / samples.length)], LEVELS_KEPT);
    }, LEVEL_EVERY_MS);
  }

  function onremotetrack(track, mid, on) {
    event({ track: track.kind, mid, on });
    // Off: muted for a while or gone; what stops shows in the measurements.
    if (!on || stream.getTrackById(track.id)) return;
    for (const old of stream.getTracks()) {
      if (old.kind === track.kind) stream.removeTrack(old);
    }
    stream.addTrack(track);
    const video = document.getElementById('remote');
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch((error) => event({ play: String(error) }));
    if (track.kind === 'audio') listen(track);
  }

  async function subscribe() {
    await new Promise((resolve) => Janus.init({ debug: ['warn', 'error'], callback: resolve }));
    await new Promise((resolve, reject) => {
      janus = new Janus({
        server: params.get('ws'),
        // Host candidates only: Janus and Chromium are on the same machine.
        iceServers: [],
        success: resolve,
        // Also called later, when the connection to Janus is lost.
        error: (error) => {
          event({ janus: 'error', error: String(error) });
          reject(new Error(`Janus: ${error}`));
        },
        destroyed: () => event({ janus: 'destroyed' }),
      });
    });
    handle = await new Promise((resolve, reject) => janus.attach({
      plugin: 'janus.plugin.videoroom',
      success: resolve,
      error: (error) => reject(new Error(`attach: ${error}`)),
      onmessage,
      onremotetrack,
      iceState: (state) => event({ ice: state }),
      webrtcState: (up, reason) => event({ webrtc: up, reason }),
      slowLink: (uplink, lost, mid) => event({ slowLink: { uplink, lost, mid } }),
      oncleanup: () => event({ cleanup: true }),
    }));
    if (viewer.feed === null) viewer.feed = await firstPublisher();
    const join = { request: 'join', ptype: 'subscriber', room, streams: [{ feed: viewer.feed }] };
    if (pin !== null) join.pin = pin;
    const { msg, jsep } = await request(join, undefined,
      (m, j) => m.videoroom === 'attached' && j, "Janus's offer");
    viewer.streams = msg.streams || [];
    // Without tracks of its own janus.js takes what is offered, receive-only.
    const answer = await new Promise((resolve, reject) => handle.createAnswer({
      jsep,
      success: resolve,
      error: (error) => reject(new Error(`createAnswer: ${error.message || error}`)),
    }));
    await request({ request: 'start', room }, answer, (m) => m.started === 'ok',
      "Janus's answer to start");
    viewer.state = 'subscribed';
  }

  async function decoderStats() {
    const pc = handle && handle.webrtcStuff && handle.webrtcStuff.pc;
    const inbound = {};
    if (!pc) return inbound;
    (await pc.getStats()).forEach((report) => {
      if (report.type === 'inbound-rtp') inbound[report.kind] = report;
    });
    return inbound;
  }

  viewer.snapshot = async () => {
    const video = document.getElementById('remote');
    const inbound = await decoderStats();
    const v = inbound.video || {};
    return {
      now: now(),
      state: viewer.state,
      error: viewer.error,
      timedOut: viewer.timedOut,
      feed: viewer.feed,
      streams: viewer.streams,
      callbacks: viewer.callbacks,
      frames: viewer.frames,
      sizes: viewer.sizes,
      levels: viewer.levels,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      audioState: viewer.audioState,
      framesDecoded: v.framesDecoded || 0,
      framesDropped: v.framesDropped || 0,
      events: viewer.events,
    };
  };

  viewer.switchSubstream = async (substream, temporal) => {
    const video = viewer.streams.find((s) => s.type === 'video');
    const wanted = { mid: video ? video.mid : undefined, substream };
    if (temporal !== null && temporal !== undefined) wanted.temporal = temporal;
    const { msg } = await request({ request: 'configure', streams: [wanted] }, undefined,
      (m) => m.configured !== undefined, "Janus's answer to configure");
    return msg;
  };

  watchFrames(document.getElementById('remote'));
  subscribe().catch(fail);
}());
