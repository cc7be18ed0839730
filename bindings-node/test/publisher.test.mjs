// initPublisher end to end against the core's real sources (synthetic ones: this machine has no
// camera), with the threading rules of the binding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import lp from '../index.js';

const SYNTHETIC = { videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240', frameRate: 15 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Records every publisher event and the completion, in arrival order.
function record(publisher, log) {
  for (const name of lp.publisherEvents) {
    publisher.on(name, (...args) => log.push({ event: name, args }));
  }
  return log;
}

test('synthetic sources: accessAllowed before the completion, then frames keep coming', async () => {
  const log = [];
  const requests = [];
  const pending = lp.initPublisher({
    ...SYNTHETIC,
    accessRequest(request) {
      requests.push(request);
      assert.equal(this, pending.publisher);
      return true;
    },
  });
  assert.ok(pending.publisher instanceof lp.Publisher);
  assert.equal(pending.publisher.state, 'initializing');
  record(pending.publisher, log);
  const publisher = await pending;
  log.push({ done: true });
  try {
    assert.equal(publisher, pending.publisher);
    assert.deepEqual(requests, [{ audio: 'synthetic', video: 'synthetic' }]);
    assert.deepEqual(log, [{ event: 'accessAllowed', args: [] }, { done: true }]);
    assert.equal(publisher.state, 'ready');
    assert.equal(typeof publisher.id, 'number');

    const first = await publisher.getStats();
    await sleep(700);
    const later = await publisher.getStats();
    assert.ok(first.videoFramesCaptured >= 1, JSON.stringify(first));
    // 15 fps video and 100 audio frames a second: well above these floors in 700 ms.
    assert.ok(later.videoFramesCaptured >= first.videoFramesCaptured + 5, JSON.stringify({ first, later }));
    assert.ok(later.audioFramesCaptured >= first.audioFramesCaptured + 30, JSON.stringify({ first, later }));
  } finally {
    publisher.close();
  }
  assert.equal(publisher.state, 'closed');
  const stopped = await publisher.getStats();
  await sleep(200);
  assert.deepEqual(await publisher.getStats(), stopped, 'frames still counted after close');
});

test('video only: the consent request names only the video source', async () => {
  const requests = [];
  const publisher = await lp.initPublisher({
    videoSource: 'synthetic',
    audioSource: null,
    resolution: '1280x720',
    accessRequest: (r) => requests.push(r) > 0,
  });
  publisher.close();
  assert.deepEqual(requests, [{ audio: null, video: 'synthetic' }]);
});

test('consent denied: accessDenied, then the completion fails with 1500', async () => {
  const log = [];
  const pending = lp.initPublisher({ ...SYNTHETIC, accessRequest: () => false });
  record(pending.publisher, log);
  const err = await pending.then(
    () => assert.fail('resolved'),
    (e) => e,
  );
  log.push({ done: true });
  assert.ok(err instanceof lp.Error);
  assert.equal(err.code, 1500);
  assert.equal(err.name, 'USER_MEDIA_ACCESS_DENIED');
  assert.ok(err.message.startsWith('Publisher Access Denied:'), err.message);
  assert.deepEqual(log.map((e) => e.event ?? 'done'), ['accessDenied', 'done']);
  const [denied] = log[0].args;
  assert.ok(denied instanceof lp.Error);
  assert.equal(denied.code, 1500);
  assert.equal(denied.message, err.message);
  assert.equal(pending.publisher.state, 'failed');
  pending.publisher.close();
});

test('consent may answer with a Promise; anything but true denies', async () => {
  const allowed = await lp.initPublisher({ ...SYNTHETIC, accessRequest: () => sleep(150).then(() => true) });
  assert.equal(allowed.state, 'ready');
  allowed.close();

  for (const answer of [() => sleep(50).then(() => false), () => 1, () => undefined, () => 'yes']) {
    const err = await lp.initPublisher({ ...SYNTHETIC, accessRequest: answer }).catch((e) => e);
    assert.equal(err.code, 1500, String(answer));
  }
});

test('the default camera on a machine without one: 1581', async (t) => {
  const cameras = (await lp.getDevices()).filter((d) => d.kind === 'videoInput');
  if (cameras.length > 0) return t.skip('this machine has a camera');
  const log = [];
  const pending = lp.initPublisher({ videoSource: 'default', audioSource: null, accessRequest: () => true });
  record(pending.publisher, log);
  const err = await pending.catch((e) => e);
  assert.equal(err.code, 1581);
  assert.equal(err.name, 'NO_DEVICES_FOUND');
  assert.deepEqual(log, []);
});

test('an unknown camera id: 1582', async () => {
  const err = await lp.initPublisher({ videoSource: 'video:no-such-camera', audioSource: null }).catch((e) => e);
  assert.equal(err.code, 1582);
  assert.equal(err.name, 'DEVICE_NOT_FOUND');
  assert.match(err.message, /no-such-camera/);
});

test('callback form: the Publisher at once, then callback(null, publisher)', async () => {
  const log = [];
  let self;
  const { err, publisher, returned } = await new Promise((resolve) => {
    const returned = lp.initPublisher(SYNTHETIC, function (err, publisher) {
      self = this;
      log.push({ done: true });
      resolve({ err, publisher, returned });
    });
    assert.ok(returned instanceof lp.Publisher);
    record(returned, log);
  });
  try {
    assert.equal(err, null);
    assert.equal(publisher, returned);
    assert.equal(self, returned);
    assert.deepEqual(log, [{ event: 'accessAllowed', args: [] }, { done: true }]);
  } finally {
    publisher.close();
  }
});

test('callback form: a failure is callback(err) with the code', async () => {
  const [err, publisher] = await new Promise((resolve) => {
    lp.initPublisher({ videoSource: 'video:no-such-camera', audioSource: null }, (...args) => resolve(args));
  });
  assert.equal(err.code, 1582);
  assert.equal(publisher, undefined);
});

test('callback form without options', async () => {
  const err = await new Promise((resolve) => lp.initPublisher((e) => resolve(e)));
  // Defaults are the default devices; this machine may or may not have them.
  assert.ok(err === null || [1580, 1581].includes(err.code), String(err));
});

test('getStats through a callback', async () => {
  const publisher = await lp.initPublisher(SYNTHETIC);
  try {
    const stats = await new Promise((resolve, reject) => {
      const ret = publisher.getStats((err, s) => (err ? reject(err) : resolve(s)));
      assert.equal(ret, undefined);
    });
    assert.equal(typeof stats.videoFramesCaptured, 'number');
    assert.equal(typeof stats.audioFramesCaptured, 'number');
  } finally {
    publisher.close();
  }
});

test('close during init: the callback once (1015) before close returns, no event afterwards', async () => {
  let calls = 0;
  const publisher = lp.initPublisher(SYNTHETIC, () => calls++);
  const log = record(publisher, []);
  publisher.close();
  assert.equal(publisher.state, 'closed');
  assert.equal(calls, 1);
  await sleep(500);
  assert.equal(calls, 1);
  assert.deepEqual(log, []);
  publisher.close(); // twice is harmless
});

test('close during init: the Promise rejects with 1015 and an ignored one is not unhandled', async () => {
  const pending = lp.initPublisher(SYNTHETIC);
  const log = record(pending.publisher, []);
  pending.publisher.close();
  const err = await pending.catch((e) => e);
  assert.equal(err.code, 1015);
  assert.equal(err.name, 'ILLEGAL_STATE');
  assert.equal(err.message, 'the publisher was closed before init_publisher completed');

  // The callback form completes too, once, before close returns.
  const completions = [];
  const withCallback = lp.initPublisher(SYNTHETIC, (e) => completions.push(e));
  withCallback.close();
  assert.equal(completions.length, 1);
  assert.equal(completions[0].code, 1015);

  const ignored = lp.initPublisher(SYNTHETIC);
  ignored.publisher.close(); // nobody awaits `ignored`: must not trip unhandledRejection
  await sleep(300);
  assert.deepEqual(log, []);
});

test('close while the consent callback is still deciding: no deadlock, no callback', async () => {
  let calls = 0;
  let asked;
  const asking = new Promise((r) => (asked = r));
  const publisher = lp.initPublisher({ ...SYNTHETIC, accessRequest: () => (asked(), new Promise(() => {})) }, () => calls++);
  await asking;
  const started = Date.now();
  publisher.close();
  assert.ok(Date.now() - started < 2000, 'close blocked');
  await sleep(300);
  assert.equal(calls, 1); // the pending init completed once, with 1015, in close()
  assert.equal(publisher.state, 'closed');
});

test('events already on their way when close() runs are dropped', async () => {
  let calls = 0;
  const log = [];
  const publisher = lp.initPublisher(
    {
      ...SYNTHETIC,
      accessRequest() {
        // Denying lets the library emit accessDenied and complete at once; hold the JS thread
        // until both are queued for it, then close.
        queueMicrotask(() => {
          const until = Date.now() + 300;
          while (Date.now() < until);
          publisher.close();
        });
        return false;
      },
    },
    () => calls++,
  );
  record(publisher, log);
  await sleep(500);
  assert.deepEqual(log, []);
  assert.equal(calls, 1); // the pending init completed once, with 1015, in close()
});

test('close from inside the consent callback', async () => {
  let calls = 0;
  const publisher = lp.initPublisher(
    {
      ...SYNTHETIC,
      accessRequest() {
        this.close();
        return true;
      },
    },
    () => calls++,
  );
  await sleep(400);
  assert.equal(publisher.state, 'closed');
  assert.equal(calls, 1); // the pending init completed once, with 1015, in close()
});

test('close from inside the accessAllowed handler: the completion is not delivered', async () => {
  const pending = lp.initPublisher(SYNTHETIC);
  pending.publisher.on('accessAllowed', () => pending.publisher.close());
  const err = await pending.catch((e) => e);
  assert.equal(err.code, 1015);
  assert.equal(pending.publisher.state, 'closed');
});

test('close from inside the completion callback', async () => {
  const publisher = await new Promise((resolve) => {
    lp.initPublisher(SYNTHETIC, (err, p) => {
      p.close();
      resolve(p);
    });
  });
  assert.equal(publisher.state, 'closed');
});

test('several publishers at once share the sources machinery and complete independently', async () => {
  const publishers = await Promise.all(
    Array.from({ length: 5 }, (_, i) => lp.initPublisher({ ...SYNTHETIC, name: `p${i}`, accessRequest: () => true })),
  );
  const ids = new Set(publishers.map((p) => p.id));
  assert.equal(ids.size, 5);
  for (const p of publishers) {
    assert.equal(p.state, 'ready');
    p.close();
  }
});

test('Symbol.dispose closes', async () => {
  const publisher = await lp.initPublisher(SYNTHETIC);
  publisher[Symbol.dispose]();
  assert.equal(publisher.state, 'closed');
});

test('a Publisher cannot be constructed directly', () => {
  assert.throws(() => new lp.Publisher(), TypeError);
});

test('the adaptation options are taken', async () => {
  for (const options of [
    { degradationPreference: 'maintain-framerate', maxVideoBitrateKbps: 500, audioFallback: false },
    { degradationPreference: 'maintain-resolution', maxVideoBitrateKbps: 100000, audioFallback: true },
    { degradationPreference: 'balanced', maxVideoBitrateKbps: 0 },
  ]) {
    const publisher = await lp.initPublisher({ ...SYNTHETIC, ...options });
    assert.equal(publisher.state, 'ready');
    publisher.close();
  }
});
