// Module surface: tables, devices, option validation, logging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import lp from '../index.js';

// The contract's table (DESIGN.md "Errors"), written out so that a renumbering in the core or a
// wrong export here fails.
const CONTRACT_CODES = {
  OK: 0,
  AUTHENTICATION_ERROR: 1004,
  INVALID_SESSION_ID: 1005,
  CONNECT_FAILED: 1006,
  NOT_CONNECTED: 1010,
  INVALID_PARAMETER: 1011,
  ILLEGAL_STATE: 1015,
  CONNECT_TIMEOUT: 1021,
  CONNECTION_LIMIT_EXCEEDED: 1027,
  USER_MEDIA_ACCESS_DENIED: 1500,
  PUBLISH_TIMEOUT: 1541,
  CREATE_PEER_CONNECTION_FAILED: 1553,
  HARDWARE_UNAVAILABLE: 1580,
  NO_DEVICES_FOUND: 1581,
  DEVICE_NOT_FOUND: 1582,
  CONSTRAINTS_NOT_SATISFIED: 1583,
  MEDIA_SOURCE_INVALID: 1584,
  STREAM_CREATE_FAILED: 1590,
  SET_REMOTE_DESCRIPTION_FAILED: 1610,
  INTERNAL_ERROR: 2000,
  UNEXPECTED_SERVER_RESPONSE: 2001,
};

test('ErrorCode is the contract table, ascending and frozen', () => {
  assert.deepEqual({ ...lp.ErrorCode }, CONTRACT_CODES);
  const codes = Object.values(lp.ErrorCode);
  assert.deepEqual(codes, [...codes].sort((a, b) => a - b));
  assert.ok(Object.isFrozen(lp.ErrorCode));
  assert.throws(() => {
    'use strict';
    lp.ErrorCode.OK = 1;
  }, TypeError);
});

test('Reason names the stream-destroyed and video reasons', () => {
  assert.deepEqual({ ...lp.Reason }, {
    clientDisconnected: 1,
    forceDisconnected: 2,
    forceUnpublished: 3,
    mediaStopped: 4,
    networkDisconnected: 5,
    quality: 6,
    publishVideo: 7,
    publishAudio: 8,
  });
});

test('version is the package version', async () => {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(lp.version, pkg.version);
  assert.match(lp.version, /^\d+\.\d+\.\d+/);
});

test('publisherEvents lists the Node event names', () => {
  assert.deepEqual([...lp.publisherEvents], [
    'accessAllowed',
    'accessDenied',
    'streamCreated',
    'streamDestroyed',
    'mediaStopped',
    'audioLevelUpdated',
    'videoDimensionsChanged',
    'videoDisableWarning',
    'videoDisableWarningLifted',
    'videoDisabled',
    'videoEnabled',
    'audioDisabled',
    'audioEnabled',
  ]);
});

test('sessionEvents lists the Node session event names', () => {
  assert.deepEqual([...lp.sessionEvents], ['sessionConnected', 'sessionDisconnected', 'sessionReconnecting', 'sessionReconnected']);
  assert.ok(Object.isFrozen(lp.sessionEvents));
});

test('Error carries a numeric code and the stable name', async () => {
  let err;
  assert.throws(() => lp.initPublisher({ frameRate: 0 }), (e) => (err = e) instanceof lp.Error);
  assert.ok(err instanceof lp.Error);
  assert.ok(err instanceof Error);
  assert.equal(err.code, 1011);
  assert.equal(typeof err.code, 'number');
  assert.equal(err.name, 'INVALID_PARAMETER');
  assert.match(String(err), /^INVALID_PARAMETER: frame_rate: /);
  assert.match(err.stack, /^INVALID_PARAMETER: frame_rate: /);
});

test('getDevices lists well-formed devices, as a Promise and through a callback', async () => {
  const devices = await lp.getDevices();
  assert.ok(Array.isArray(devices));
  for (const d of devices) {
    const prefix = { audioInput: 'audio:', videoInput: 'video:', screen: 'screen:' }[d.kind];
    assert.ok(prefix, d.kind);
    assert.ok(d.deviceId.startsWith(prefix), d.deviceId);
    assert.equal(typeof d.label, 'string');
  }
  const viaCallback = await new Promise((resolve, reject) => {
    const ret = lp.getDevices((err, list) => (err ? reject(err) : resolve(list)));
    assert.equal(ret, undefined);
  });
  assert.deepEqual(viaCallback, devices);
});

// Option validation lives in the core; the binding must pass it through with the field named.
const INVALID = [
  ['a bad resolution', { videoSource: 'synthetic', resolution: 'huge' }, /^resolution: /],
  ['an odd resolution', { videoSource: 'synthetic', resolution: '641x480' }, /^resolution: /],
  ['an unknown source string', { audioSource: 'loudspeaker' }, /^audio_source: /],
  ['a number for a source', { videoSource: 5 }, /^video_source: expected a source string or null, got a number/],
  ['a string for the frame rate', { videoSource: 'synthetic', frameRate: 'fast' }, /^frame_rate: expected an integer/],
  ['a fractional frame rate', { videoSource: 'synthetic', frameRate: 12.5 }, /^frame_rate: /],
  ['a frame rate out of range', { videoSource: 'synthetic', frameRate: 0 }, /^frame_rate: /],
  ['a string for publishAudio', { publishAudio: 'yes' }, /^publish_audio: expected a boolean/],
  ['an unknown codec', { videoCodec: 'AV2' }, /^video_codec: /],
  [
    'an unknown degradation preference',
    { degradationPreference: 'fast' },
    /^degradation_preference: "fast" is not one of "balanced", "maintain-framerate", "maintain-resolution"$/,
  ],
  ['a negative video bitrate cap', { maxVideoBitrateKbps: -1 }, /^max_video_bitrate_kbps: must be between 0 \(automatic\) and 100000, got -1$/],
  ['a video bitrate cap over 100000', { maxVideoBitrateKbps: 100001 }, /^max_video_bitrate_kbps: must be between 0 \(automatic\) and 100000, got 100001$/],
  ['a string for audioFallback', { audioFallback: 'yes' }, /^audio_fallback: expected a boolean/],
  ['an unknown key', { videoSource: 'synthetic', colour: 'blue' }, /^colour: unknown option/],
  ['an object value', { videoSource: { id: 1 } }, /^video_source: expected a source string or null, got a mapping/],
  ['a function value', { videoSource: () => 'synthetic' }, /^videoSource: expected a string, a number, a boolean, null, an array or an object, got a function/],
  ['a non-function accessRequest', { videoSource: 'synthetic', accessRequest: true }, /^accessRequest: expected a function, got a boolean/],
  ['no source at all', { videoSource: null, audioSource: null }, /video_source\/audio_source/],
  ['options that are not an object', 'synthetic', /^options: expected an object, got a string/],
];

for (const [what, options, message] of INVALID) {
  test(`initPublisher rejects ${what} with 1011`, async () => {
    let err;
    assert.throws(
      () => lp.initPublisher(options),
      (e) => (err = e) instanceof lp.Error,
    );
    assert.equal(err.code, 1011);
    assert.equal(err.name, 'INVALID_PARAMETER');
    assert.match(err.message, message);
  });
}

test('the callback form throws invalid options synchronously and never calls back', async () => {
  let called = false;
  assert.throws(
    () => lp.initPublisher({ resolution: 'huge' }, () => (called = true)),
    (e) => e instanceof lp.Error && e.code === 1011 && e.message.startsWith('resolution:'),
  );
  assert.throws(() => lp.initPublisher({}, 'not a function'), (e) => e.code === 1011 && /^callback: /.test(e.message));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(called, false);
});

test('setLogHandler delivers core records on the main thread, and null stops them', async () => {
  const records = [];
  lp.setLogHandler((record) => records.push(record), 'debug');
  try {
    const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null });
    publisher.close();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    lp.setLogHandler(null);
  }
  const acquired = records.find((r) => r.message.startsWith('sources acquired'));
  assert.ok(acquired, JSON.stringify(records));
  assert.equal(acquired.level, 'info');
  assert.equal(acquired.target, 'libpublisher::publisher');
  assert.ok(records.some((r) => r.level === 'debug' && r.message.startsWith('closed')), JSON.stringify(records));

  const seen = records.length;
  const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null });
  publisher.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(records.length, seen);
});

test('setLogHandler filters by level', async () => {
  const records = [];
  lp.setLogHandler((record) => records.push(record), 'info');
  try {
    const publisher = await lp.initPublisher({ videoSource: 'synthetic', audioSource: null });
    publisher.close();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    lp.setLogHandler(null);
  }
  assert.ok(records.length > 0);
  assert.ok(records.every((r) => r.level === 'info' || r.level === 'warn' || r.level === 'error'), JSON.stringify(records));
});

test('setLogHandler refuses a bad level or handler with 1011', () => {
  assert.throws(() => lp.setLogHandler(() => {}, 'loud'), (e) => e.code === 1011 && e.message.startsWith('level:'));
  assert.throws(() => lp.setLogHandler(42), (e) => e.code === 1011 && e.message.startsWith('handler:'));
});
