// Mute and unmute from Node: each change is an event with its reason, a repeat is none; a
// publisher without video cannot turn it on; a non-boolean is 1011, a closed publisher 1015.
// (What a receiver decodes across mute and unmute is tested from Python against aiortc.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import lp from '../index.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('publishVideo and publishAudio toggle with their events', async () => {
  const publisher = await lp.initPublisher({
    videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240',
  });
  const seen = [];
  for (const name of ['videoDisabled', 'videoEnabled', 'audioDisabled', 'audioEnabled']) {
    publisher.on(name, (event) => seen.push([name, event.reason]));
  }
  try {
    publisher.publishVideo(false);
    publisher.publishVideo(false);
    publisher.publishAudio(false);
    publisher.publishAudio(true);
    publisher.publishVideo(true);
    const deadline = Date.now() + 3000;
    while (seen.length < 4 && Date.now() < deadline) await sleep(10);
    assert.deepEqual(seen, [
      ['videoDisabled', 'publishVideo'],
      ['audioDisabled', 'publishAudio'],
      ['audioEnabled', 'publishAudio'],
      ['videoEnabled', 'publishVideo'],
    ]);
    assert.throws(() => publisher.publishVideo('no'), (e) => e.code === 1011 && e.name === 'INVALID_PARAMETER');
  } finally {
    publisher.close();
  }
  assert.throws(() => publisher.publishAudio(false), (e) => e.code === 1015 && /closed/.test(e.message));
});

test('a publisher without video cannot turn it on', async () => {
  const publisher = await lp.initPublisher({ videoSource: null, audioSource: 'synthetic' });
  try {
    assert.throws(() => publisher.publishVideo(true), (e) => e.code === 1015 && /has no video/.test(e.message));
  } finally {
    publisher.close();
  }
});

test('setVideoSource and setAudioSource switch, or say why not', async () => {
  const publisher = await lp.initPublisher({
    videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240',
  });
  try {
    await publisher.setVideoSource('synthetic');
    await publisher.setAudioSource('synthetic');
    await assert.rejects(publisher.setVideoSource('video:no-such-camera'), (e) => e.code === 1582 && e.name === 'DEVICE_NOT_FOUND');
    assert.throws(() => publisher.setVideoSource('loudspeaker'), (e) => e.code === 1011);
    assert.throws(() => publisher.setVideoSource(42), (e) => e.code === 1011);
    const err = await new Promise((resolve) => publisher.setVideoSource('file:/no/such.y4m', resolve));
    assert.equal(err.code, 1584);
    assert.equal(publisher.state, 'ready');
  } finally {
    publisher.close();
  }
  assert.throws(() => publisher.setVideoSource('synthetic'), (e) => e.code === 1015);
});

test('cycleVideo without a camera: 1581 at once; closed: 1015', async (t) => {
  const cameras = (await lp.getDevices()).filter((d) => d.kind === 'videoInput');
  if (cameras.length > 0) return t.skip('this machine has a camera');
  const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null });
  try {
    assert.throws(() => publisher.cycleVideo(), (e) => e.code === 1581 && e.name === 'NO_DEVICES_FOUND');
    assert.throws(() => publisher.cycleVideo(() => assert.fail('completed')), (e) => e.code === 1581);
  } finally {
    publisher.close();
  }
  assert.throws(() => publisher.cycleVideo(), (e) => e.code === 1015);
});

test('setPreferredResolution and setPreferredFrameRate check what they are given', async () => {
  const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null });
  try {
    publisher.setPreferredResolution('320x240');
    publisher.setPreferredFrameRate(15);
    assert.throws(() => publisher.setPreferredResolution('huge'), (e) => e.code === 1011 && /^resolution:/.test(e.message));
    assert.throws(() => publisher.setPreferredFrameRate(0), (e) => e.code === 1011 && /^frame_rate:/.test(e.message));
    assert.throws(() => publisher.setPreferredFrameRate(2.5), (e) => e.code === 1011);
    assert.throws(() => publisher.setPreferredFrameRate('10'), (e) => e.code === 1011);
  } finally {
    publisher.close();
  }
  assert.throws(() => publisher.setPreferredFrameRate(15), (e) => e.code === 1015);
});

test('snapshot gives PNG bytes, or 1015 without video', async () => {
  const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null, resolution: '320x240' });
  const audioOnly = await lp.initPublisher({ videoSource: null, audioSource: 'synthetic' });
  try {
    const png = await publisher.snapshot();
    assert.ok(Buffer.isBuffer(png));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 320); // IHDR width
    assert.equal(png.readUInt32BE(20), 240); // and height
    await assert.rejects(audioOnly.snapshot(), (e) => e.code === 1015 && /has no video/.test(e.message));
  } finally {
    publisher.close();
    audioOnly.close();
  }
});
