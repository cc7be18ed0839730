// Sessions end to end against the core's loopback:// backend: real ICE/DTLS/SRTP on 127.0.0.1
// to the receiver embedded in the library, which counts what arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import lp from '../index.js';

const SMALL = { videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240', frameRate: 15 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A call refused at once throws, in every language; its completion never runs.
function refusal(call) {
  try {
    call();
  } catch (e) {
    return e;
  }
  return assert.fail('the call was not refused at once');
}

// Records every event of a publisher and a session, in arrival order, as "name" or "name:detail".
function record(log, { publisher, session }) {
  for (const name of publisher ? lp.publisherEvents : []) {
    if (name === 'audioLevelUpdated') continue;
    publisher.on(name, (e) => log.push(e && (e.streamId || e.reason) ? `${name}:${e.streamId || e.reason}` : name));
  }
  for (const name of session ? lp.sessionEvents : []) {
    session.on(name, (e) => log.push(e && e.reason ? `${name}:${e.reason}` : name));
  }
  return log;
}

function waitFor(emitter, name) {
  return new Promise((resolve) => emitter.once(name, resolve));
}

async function connected(options) {
  const session = lp.initSession('loopback://', options);
  await session.connect();
  return session;
}

// Runs `body({ log, publisher, session })` with a ready publisher and a connected session
// whose events `log` records, and closes both afterwards.
async function withConnected(body) {
  const publisher = await lp.initPublisher(SMALL);
  const session = await connected();
  const log = record([], { publisher, session });
  try {
    await body({ log, publisher, session });
  } finally {
    session.close();
    publisher.close();
  }
}

// Blocks the main thread, so that what the library sends meanwhile queues up for it.
function busy(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

const threadCount = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);

test('publish 640x480@30 to loopback:// for 2 s: events in order, media counted on both ends', async () => {
  const log = [];
  const publisher = await lp.initPublisher({ ...SMALL, resolution: '640x480', frameRate: 30 });
  const session = lp.initSession('loopback://');
  record(log, { publisher, session });
  try {
    assert.equal(session.state, 'disconnected');
    assert.equal(session.url, 'loopback://');
    assert.equal(typeof session.id, 'number');

    await session.connect();
    log.push('connect resolved');
    assert.equal(session.state, 'connected');

    // Not published yet: nothing sent, estimated or limited.
    const before = await publisher.getStats();
    assert.equal(before.targetBitrateBps, 0);
    assert.equal(before.availableOutgoingBitrateBps, 0);
    assert.deepEqual([before.frameWidth, before.frameHeight, before.framesPerSecond], [0, 0, 0]);
    assert.equal(before.qualityLimitationReason, 'none');

    const created = waitFor(publisher, 'streamCreated');
    await session.publish(publisher);
    log.push('publish resolved');
    assert.equal(publisher.state, 'publishing');
    const { streamId } = await created;
    assert.equal(typeof streamId, 'string');
    assert.ok(streamId.length > 0);
    assert.deepEqual(log, ['sessionConnected', 'connect resolved', 'publish resolved', `streamCreated:${streamId}`]);

    const started = Date.now();
    await sleep(2000);
    const seconds = (Date.now() - started) / 1000;
    const received = session.getReceiverStats(publisher);
    const sent = await publisher.getStats();

    assert.deepEqual(Object.keys(received).sort(), [
      'audioBytes',
      'audioPackets',
      'firstFrameWasKeyframe',
      'videoBytes',
      'videoFrames',
      'videoKeyframes',
    ]);
    // 30 fps for ~2 s; the encoder may drop a little, never invent frames.
    assert.ok(received.videoFrames >= 40 && received.videoFrames <= 80, `videoFrames ${received.videoFrames}`);
    assert.equal(received.firstFrameWasKeyframe, true);
    assert.ok(received.videoKeyframes >= 1);
    assert.ok(received.videoBytes > received.videoFrames * 100, `videoBytes ${received.videoBytes}`);
    // 20 ms packets: ~50 a second.
    assert.ok(received.audioPackets > 0 && received.audioPackets <= 60 * seconds + 10, `audioPackets ${received.audioPackets}`);
    assert.ok(received.audioBytes > 0);

    assert.deepEqual(Object.keys(sent).sort(), [
      'audioFramesCaptured',
      'audioPacketsSent',
      'availableOutgoingBitrateBps',
      'bitrateBps',
      'bytesSent',
      'frameHeight',
      'frameWidth',
      'framesPerSecond',
      'packetsLost',
      'packetsSent',
      'qualityLimitationReason',
      'retransmittedBytesSent',
      'retransmittedPacketsSent',
      'rttMs',
      'targetBitrateBps',
      'videoFramesCaptured',
      'videoFramesSent',
      'videoKeyframesSent',
    ]);
    for (const [key, value] of Object.entries(sent)) {
      assert.equal(typeof value, key === 'qualityLimitationReason' ? 'string' : 'number', key);
    }
    // What video is sent as: the published size at a real rate, nothing short on loopback.
    assert.deepEqual([sent.frameWidth, sent.frameHeight], [640, 480], JSON.stringify(sent));
    assert.ok(sent.framesPerSecond > 0, JSON.stringify(sent));
    assert.ok(sent.targetBitrateBps > 0 && sent.availableOutgoingBitrateBps > 0, JSON.stringify(sent));
    assert.equal(sent.qualityLimitationReason, 'none');
    assert.ok(sent.videoFramesSent >= received.videoFrames, JSON.stringify({ sent, received }));
    assert.ok(sent.videoKeyframesSent >= 1);
    assert.ok(sent.audioPacketsSent > 0);
    // Transport figures are sampled about once a second, so they trail the receiver's.
    assert.ok(sent.packetsSent > 0);
    assert.ok(sent.bytesSent > 0);
    assert.ok(sent.bitrateBps > 0);
    assert.ok(sent.rttMs >= 0);

    log.length = 0;
    await session.unpublish(publisher);
    log.push('unpublish resolved');
    assert.deepEqual(log, ['streamDestroyed:clientDisconnected', 'unpublish resolved']);
    assert.equal(publisher.state, 'ready');
    assert.equal(session.getReceiverStats(publisher), null);

    log.length = 0;
    await session.disconnect();
    log.push('disconnect resolved');
    assert.deepEqual(log, ['sessionDisconnected:clientDisconnected', 'disconnect resolved']);
    assert.equal(session.state, 'disconnected');
  } finally {
    session.close();
    publisher.close();
  }
});

test('disconnect while publishing: streamDestroyed, then sessionDisconnected, then the completion', () =>
  withConnected(async ({ log, publisher, session }) => {
    await session.publish(publisher);
    await waitFor(publisher, 'streamCreated');
    log.length = 0;
    await session.disconnect();
    log.push('disconnect resolved');
    assert.deepEqual(log, [
      'streamDestroyed:clientDisconnected',
      'sessionDisconnected:clientDisconnected',
      'disconnect resolved',
    ]);
    assert.equal(publisher.state, 'ready');
  }));

test('the order holds across handles even when the main thread was busy', async () => {
  // With the main thread blocked, the publish completion and the publisher's streamCreated
  // (and later streamDestroyed and the unpublish completion) are all queued before JS runs.
  await withConnected(async ({ log, publisher, session }) => {
    const published = session.publish(publisher).then(() => log.push('publish resolved'));
    busy(1500);
    await published;
    await sleep(50);
    assert.deepEqual(log.map((e) => e.split(':')[0]), ['publish resolved', 'streamCreated']);

    log.length = 0;
    const unpublished = session.unpublish(publisher).then(() => log.push('unpublish resolved'));
    busy(1000);
    await unpublished;
    assert.deepEqual(log, ['streamDestroyed:clientDisconnected', 'unpublish resolved']);
  });
});

test('publish without connect: 1010 NOT_CONNECTED, thrown at once', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const session = lp.initSession('loopback://');
  const log = record([], { publisher, session });
  try {
    const err = refusal(() => session.publish(publisher));
    assert.ok(err instanceof lp.Error);
    assert.equal(err.code, 1010);
    assert.equal(err.name, 'NOT_CONNECTED');
    assert.equal(publisher.state, 'ready');
    await sleep(100);
    assert.deepEqual(log, []);
  } finally {
    session.close();
    publisher.close();
  }
});

test('publish after disconnect: 1010', () =>
  withConnected(async ({ publisher, session }) => {
    await session.disconnect();
    const err = refusal(() => session.publish(publisher));
    assert.equal(err.code, 1010);
    assert.equal(err.name, 'NOT_CONNECTED');
  }));

test('unpublish without connect: 1010; unpublish of a publisher not published here: 1015', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const session = lp.initSession('loopback://');
  try {
    assert.equal(refusal(() => session.unpublish(publisher)).code, 1010);
    await session.connect();
    const err = refusal(() => session.unpublish(publisher));
    assert.equal(err.code, 1015);
    assert.equal(err.name, 'ILLEGAL_STATE');
  } finally {
    session.close();
    publisher.close();
  }
});

test('a bad URL throws 1005 INVALID_SESSION_ID at once', () => {
  for (const url of ['nonsense', 'ftp://example.com/x', 'janus+ws://localhost:8188', '']) {
    assert.throws(
      () => lp.initSession(url),
      (e) => e instanceof lp.Error && e.code === 1005 && e.name === 'INVALID_SESSION_ID',
      url,
    );
  }
});

test('initSession checks its arguments with 1011 naming the field, and passes options to the core', () => {
  const invalid = [
    [42, undefined, /^url: expected a string, got a number/],
    [undefined, undefined, /^url: expected a string, got undefined/],
    ['loopback://', 'fast', /^options: expected an object, got a string/],
    ['loopback://', { connectTimeoutMs: 'soon' }, /^connect_timeout_ms: /],
    ['loopback://', { iceTimeoutMs: -1 }, /^ice_timeout_ms: /],
    ['loopback://', { colour: 'blue' }, /^colour: unknown option/],
    ['loopback://', { publishTimeoutMs: {} }, /^publish_timeout_ms: expected an integer, got a mapping/],
    ['loopback://', { publishTimeoutMs: () => 1 }, /^publishTimeoutMs: expected a string, a number, a boolean, null, an array or an object, got a function/],
    ['loopback://', { iceTransportPolicy: 'none' }, /^ice_transport_policy: expected "all" or "relay"/],
    ['loopback://', { iceServers: [{ urls: 'http://turn.example.net' }] }, /^ice_servers\[0\]\.urls: "http:\/\/turn.example.net": unsupported scheme/],
    ['loopback://', { iceServers: [{ urls: [] }] }, /^ice_servers\[0\]\.urls: must list at least one URL/],
    ['loopback://', { iceServers: [{ urls: 'turn:127.0.0.1:3478' }] }, /^ice_servers\[0\]\.username: the TURN URL/],
    ['loopback://', { iceServers: { urls: 'stun:127.0.0.1' } }, /^ice_servers: expected a list/],
  ];
  for (const [url, options, message] of invalid) {
    assert.throws(
      () => lp.initSession(url, options),
      (e) => e instanceof lp.Error && e.code === 1011 && e.name === 'INVALID_PARAMETER' && message.test(e.message),
      `${String(url)} ${JSON.stringify(options)}`,
    );
  }
  const session = lp.initSession('loopback://', { connectTimeoutMs: 5000, publish_timeout_ms: 8000, iceTimeoutMs: 4000 });
  assert.ok(session instanceof lp.Session);
  session.close();
  const relayed = lp.initSession('loopback://', {
    iceServers: [
      { urls: 'stun:127.0.0.1:3478' },
      { urls: ['turn:127.0.0.1:3478', 'turn:127.0.0.1:3478?transport=tcp', 'turns:localhost'], username: 'u', credential: 'p' },
    ],
    iceTransportPolicy: 'relay',
  });
  assert.ok(relayed instanceof lp.Session);
  relayed.close();
});

test('connect twice: 1015', async () => {
  const session = await connected();
  try {
    const err = refusal(() => session.connect());
    assert.equal(err.code, 1015);
    assert.equal(err.name, 'ILLEGAL_STATE');
    assert.equal(session.state, 'connected');
  } finally {
    session.close();
  }
});

test('publish twice: 1015 while the first is under way and after it completed', () =>
  withConnected(async ({ publisher, session }) => {
    const first = session.publish(publisher);
    const during = refusal(() => session.publish(publisher));
    assert.equal(during.code, 1015);
    await first;
    const after = refusal(() => session.publish(publisher));
    assert.equal(after.code, 1015);
    assert.match(after.message, /already published/);
  }));

test('publish of a publisher that is not ready: 1015; of something else: 1011', async () => {
  const session = await connected();
  // Held in "initializing" until the consent answer.
  let allow;
  const pending = lp.initPublisher({ ...SMALL, accessRequest: () => new Promise((resolve) => (allow = resolve)) });
  try {
    await sleep(50);
    assert.equal(pending.publisher.state, 'initializing');
    const err = refusal(() => session.publish(pending.publisher));
    assert.equal(err.code, 1015);
    assert.match(err.message, /init_publisher has not completed/);
    allow(true);
    await pending;
    for (const notAPublisher of [undefined, null, {}, pending]) {
      const e = refusal(() => session.publish(notAPublisher));
      assert.equal(e.code, 1011);
      assert.match(e.message, /^publisher: expected a Publisher/);
    }
    assert.throws(() => session.getReceiverStats({}), (e) => e.code === 1011);
    assert.equal(refusal(() => session.connect(42)).code, 1011);
  } finally {
    session.close();
    pending.publisher.close();
  }
});

test('callback form: cb(null) on success, never synchronously; a refusal throws and never calls cb', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const session = lp.initSession('loopback://');
  try {
    const call = (method, ...args) =>
      new Promise((resolve) => {
        let returned = false;
        const ret = session[method](...args, function (...cbArgs) {
          resolve({ cbArgs, self: this, synchronous: !returned });
        });
        returned = true;
        assert.equal(ret, undefined);
      });

    const never = () => assert.fail('a refused call completed');
    assert.equal(refusal(() => session.publish(publisher, never)).code, 1010);

    let r = await call('connect');
    assert.equal(r.synchronous, false);
    assert.deepEqual(r.cbArgs, [null]);
    assert.equal(r.self, session);
    assert.equal(refusal(() => session.connect('a-token', never)).code, 1015);

    const created = waitFor(publisher, 'streamCreated');
    r = await call('publish', publisher);
    assert.deepEqual(r.cbArgs, [null]);
    await created;
    r = await call('unpublish', publisher);
    assert.deepEqual(r.cbArgs, [null]);
    r = await call('disconnect');
    assert.deepEqual(r.cbArgs, [null]);

    assert.throws(() => session.connect(null, 'not a function'), (e) => e.code === 1011 && /^callback: /.test(e.message));
  } finally {
    session.close();
    publisher.close();
  }
});

test('close() during publish: the call completes once with 1015 before close returns, nothing after', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const [session, second, third] = await Promise.all([connected(), connected(), connected()]);
  const log = record([], { publisher, session });
  const completions = [];
  try {
    session.publish(publisher, (err) => completions.push(err));
    session.close();
    assert.equal(session.state, 'closed');
    assert.equal(completions.length, 1);
    assert.equal(completions[0].code, 1015);
    assert.equal(completions[0].message, 'the session was closed before publish completed');
    await sleep(1000);
    assert.equal(completions.length, 1);
    assert.deepEqual(log, []);
    assert.equal(publisher.state, 'ready');
    session.close(); // twice is harmless

    // The Promise form: rejected by close, and an ignored one is not an unhandled rejection.
    const promised = second.publish(publisher);
    second.close();
    const err = await promised.catch((e) => e);
    assert.equal(err.code, 1015);
    assert.equal(err.name, 'ILLEGAL_STATE');
    // The core returns the publisher to ready once the stream it was opening is torn down.
    for (let waited = 0; publisher.state !== 'ready' && waited < 2000; waited += 20) await sleep(20);
    assert.equal(publisher.state, 'ready');
    third.publish(publisher);
    third.close();
    for (let waited = 0; publisher.state !== 'ready' && waited < 2000; waited += 20) await sleep(20);
    assert.equal(publisher.state, 'ready');
    await sleep(300);
    assert.deepEqual(log, []);

    const fourth = await connected();
    try {
      await fourth.publish(publisher);
      assert.equal(publisher.state, 'publishing');
    } finally {
      fourth.close();
    }
  } finally {
    second.close();
    third.close();
    publisher.close();
  }
});

test('close() of a publishing session: only the publisher hears of it (streamDestroyed)', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const session = await connected();
  await session.publish(publisher);
  await waitFor(publisher, 'streamCreated');
  const log = record([], { publisher, session });
  session.close();
  await sleep(300);
  assert.deepEqual(log, ['streamDestroyed:clientDisconnected']);
  assert.equal(publisher.state, 'ready');
  publisher.close();
});

test('closing the publisher while published leaves the session usable', async () => {
  const publisher = await lp.initPublisher(SMALL);
  const session = await connected();
  const log = record([], { session });
  try {
    await session.publish(publisher);
    publisher.close();
    assert.equal(publisher.state, 'closed');
    assert.equal(session.getReceiverStats(publisher), null);
    await session.disconnect();
    assert.deepEqual(log, ['sessionDisconnected:clientDisconnected']);
  } finally {
    session.close();
  }
});

test('close from inside a session event handler', async () => {
  const session = lp.initSession('loopback://');
  session.on('sessionConnected', () => session.close());
  const err = await session.connect().catch((e) => e);
  assert.equal(err.code, 1015);
  assert.equal(session.state, 'closed');
  // A call on a closed session is refused like any other: at once.
  const refused = refusal(() => session.connect(() => assert.fail('completed')));
  assert.equal(refused.code, 1015);
});

test('10 publish/unpublish cycles do not grow the thread count', () =>
  withConnected(async ({ publisher, session }) => {
    const cycle = async () => {
      await session.publish(publisher);
      await session.unpublish(publisher);
    };
    await cycle(); // the first one starts the runtime's threads
    const before = threadCount();
    for (let i = 0; i < 10; i++) await cycle();
    let after = threadCount();
    for (let waited = 0; after > before && waited < 2000; waited += 100) {
      await sleep(100);
      after = threadCount();
    }
    assert.ok(after <= before, `threads: ${before} before, ${after} after`);
  }));

test('Symbol.dispose closes; a Session cannot be constructed directly', () => {
  const session = lp.initSession('loopback://');
  session[Symbol.dispose]();
  assert.equal(session.state, 'closed');
  assert.throws(() => new lp.Session(), TypeError);
});
