// Custom sources from Node: the program pushes frames (Buffer, Uint8Array, Int16Array,
// Float32Array); init does not wait for them; wrong frames are 1011, misplaced pushes 1015.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import lp from '../index.js';

const CUSTOM = { videoSource: 'custom', audioSource: 'custom', resolution: '320x240', frameRate: 30 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function solidRgba(width, height, [r, g, b]) {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set([r, g, b, 255], i);
  return data;
}

async function waitFor(predicate, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!(await predicate()) && Date.now() < deadline) await sleep(10);
  return predicate();
}

test('init completes without a pushed frame and asks no consent', async () => {
  const asked = [];
  const started = Date.now();
  const publisher = await lp.initPublisher({ ...CUSTOM, accessRequest: (r) => asked.push(r) });
  try {
    assert.ok(Date.now() - started < 2000);
    assert.equal(publisher.state, 'ready');
    assert.deepEqual(asked, []);
  } finally {
    publisher.close();
  }
});

test('pushed frames of every buffer kind are counted', async () => {
  const publisher = await lp.initPublisher(CUSTOM);
  try {
    const i420 = Buffer.alloc(320 * 240 * 3 / 2, 128);
    publisher.pushVideoFrame({ data: i420, width: 320, height: 240 });
    await sleep(40);
    publisher.pushVideoFrame({ data: solidRgba(64, 48, [0, 255, 0]), width: 64, height: 48, format: 'rgba', timestampUs: 40000 });
    await sleep(40);
    publisher.pushVideoFrame({ data: solidRgba(64, 48, [0, 0, 255]).buffer, width: 64, height: 48, format: 'rgba' });
    publisher.pushAudioFrame({ samples: new Int16Array(480) });
    publisher.pushAudioFrame({ samples: Buffer.alloc(960) });
    publisher.pushAudioFrame({ samples: new Float32Array(480).fill(0.25) });
    publisher.pushAudioFrame({ samples: new Int16Array(960), channels: 2, sampleRate: 48000, timestampUs: 5 });
    assert.ok(await waitFor(async () => (await publisher.getStats()).videoFramesCaptured === 3));
    assert.ok(await waitFor(async () => (await publisher.getStats()).audioFramesCaptured === 4));
  } finally {
    publisher.close();
  }
});

test('wrong frames are 1011 naming the argument', async () => {
  const publisher = await lp.initPublisher(CUSTOM);
  const frame = { data: Buffer.alloc(320 * 240 * 3 / 2), width: 320, height: 240 };
  const cases = [
    [{ ...frame, data: Buffer.alloc(10) }, 'data'],
    [{ ...frame, width: 0 }, 'width'],
    [{ ...frame, width: 321 }, 'width'],
    [{ ...frame, height: -2 }, 'height'],
    [{ ...frame, height: 1.5 }, 'height'],
    [{ ...frame, width: '320' }, 'width'],
    [{ ...frame, data: 'pixels' }, 'data'],
    [{ ...frame, format: 'nv12' }, 'format'],
    [{ ...frame, timestampUs: -1 }, 'timestamp_us'],
    [null, 'frame'],
  ];
  try {
    for (const [bad, field] of cases) {
      assert.throws(
        () => publisher.pushVideoFrame(bad),
        (err) => err.code === lp.ErrorCode.INVALID_PARAMETER && err.message.startsWith(`${field}:`),
        `${field}: ${JSON.stringify(bad && { ...bad, data: undefined })}`,
      );
    }
    const audio = [
      [{ samples: new Int16Array(0) }, 'samples'],
      [{ samples: Buffer.alloc(3) }, 'samples'],
      [{ samples: new Int16Array(3), channels: 2 }, 'samples'],
      [{ samples: new Int16Array(480), channels: 0 }, 'channels'],
      [{ samples: new Int16Array(480), channels: 3 }, 'channels'],
      [{ samples: new Int16Array(480), sampleRate: 0 }, 'sample_rate'],
      [{ samples: [1, 2, 3] }, 'samples'],
    ];
    for (const [bad, field] of audio) {
      assert.throws(
        () => publisher.pushAudioFrame(bad),
        (err) => err.code === lp.ErrorCode.INVALID_PARAMETER && err.message.startsWith(`${field}:`),
        field,
      );
    }
  } finally {
    publisher.close();
  }
});

test('pushes to a publisher that is not custom, or closed, are 1015', async () => {
  const frame = { data: Buffer.alloc(32 * 24 * 3 / 2), width: 32, height: 24 };
  const other = await lp.initPublisher({ ...CUSTOM, videoSource: 'synthetic', audioSource: 'synthetic' });
  const illegal = (err) => err.code === lp.ErrorCode.ILLEGAL_STATE && err.name === 'ILLEGAL_STATE';
  assert.throws(() => other.pushVideoFrame(frame), illegal);
  assert.throws(() => other.pushAudioFrame({ samples: new Int16Array(480) }), illegal);
  other.close();
  const publisher = await lp.initPublisher(CUSTOM);
  publisher.close();
  assert.throws(() => publisher.pushVideoFrame(frame), illegal);
  assert.throws(() => publisher.pushAudioFrame({ samples: new Int16Array(480) }), illegal);
});

test('pushed frames reach the loopback receiver', async () => {
  const publisher = await lp.initPublisher(CUSTOM);
  const session = lp.initSession('loopback://');
  const frame = { data: solidRgba(320, 240, [255, 0, 0]), width: 320, height: 240, format: 'rgba' };
  const tone = new Int16Array(480).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 48000)));
  // Pushed on a timer, as a capture loop would, also while publish is under way.
  const timer = setInterval(() => {
    publisher.pushVideoFrame(frame);
    for (let i = 0; i < 3; i++) publisher.pushAudioFrame({ samples: tone });
  }, 30);
  try {
    await session.connect();
    await session.publish(publisher);
    await sleep(1500);
    const received = session.getReceiverStats(publisher);
    assert.ok(received.videoFrames >= 25 && received.firstFrameWasKeyframe, JSON.stringify(received));
    assert.ok(received.audioPackets >= 25, JSON.stringify(received));
    await session.unpublish(publisher);
  } finally {
    clearInterval(timer);
    session.close();
    publisher.close();
  }
});
