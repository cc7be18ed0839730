// Conformance driver for the Node binding:
//   node driver_node.mjs path/to/scenarios.json
// Runs every init_publisher scenario and prints one JSON object (the shape every language's
// driver prints) to stdout.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const lp = require('../../bindings-node');

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node driver_node.mjs path/to/scenarios.json\n');
  process.exit(2);
}
const scenarios = JSON.parse(readFileSync(file, 'utf8'));

const byCode = (a, b) => a.code - b.code;
const table = (object) => Object.entries(object).map(([name, code]) => ({ code, name })).sort(byCode);

async function runInitPublisher(scenario) {
  const options = { ...scenario.options };
  if (scenario.consent === 'allow' || scenario.consent === 'deny') {
    const allow = scenario.consent === 'allow';
    options.accessRequest = () => allow;
  }
  const events = [];
  let completed = false;
  let pending;
  try {
    pending = lp.initPublisher(options);
  } catch (e) {
    // Invalid options are refused at once, as in every language.
    if (!(e instanceof lp.Error)) throw e;
    return { scenario: scenario.name, code: e.code, name: e.name, message: e.message, events };
  }
  const { publisher } = pending;
  if (publisher) {
    for (const name of lp.publisherEvents) {
      publisher.on(name, () => {
        if (!completed) events.push(name);
      });
    }
  }
  let outcome;
  try {
    await pending;
    outcome = { code: lp.ErrorCode.OK, name: 'OK', message: '' };
  } catch (e) {
    if (!(e instanceof lp.Error)) throw e;
    outcome = { code: e.code, name: e.name, message: e.message };
  } finally {
    completed = true;
    if (publisher) publisher.close();
  }
  return { scenario: scenario.name, ...outcome, events };
}

const outcome = (e) => (e ? { code: e.code, name: e.name, message: e.message } : { code: 0, name: 'OK', message: '' });

// A call refused at once throws, and its callback never runs.
function refused(call) {
  try {
    call(() => {
      throw new Error('completed');
    });
  } catch (e) {
    if (!(e instanceof lp.Error)) throw e;
    return { ...outcome(e), at_once: true };
  }
  return { ...outcome(null), at_once: false };
}

const SYNTHETIC = { videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240' };

async function consentCode(reply) {
  try {
    const publisher = await lp.initPublisher({ ...SYNTHETIC, accessRequest: () => reply });
    publisher.close();
    return 0;
  } catch (e) {
    return e.code;
  }
}

// A call that returns or throws at once.
function attempt(call) {
  try {
    call();
    return outcome(null);
  } catch (e) {
    if (!(e instanceof lp.Error)) throw e;
    return outcome(e);
  }
}

// A file no machine has: every driver switches to it.
const MISSING_FILE = 'file:/nonexistent/libpublisher-conformance.y4m';

// Live control of a ready publisher (see scenarios.json, `host`).
async function liveControl(publisher, out) {
  out.switch_wrong_string = refused((cb) => publisher.setVideoSource('loudspeaker', cb));
  out.switch_screen_as_audio = refused((cb) => publisher.setAudioSource('screen', cb));
  out.switch_missing_file = outcome(await publisher.setVideoSource(MISSING_FILE).then(() => null, (e) => e));
  out.preferred_resolution_wrong = attempt(() => publisher.setPreferredResolution('12'));
  out.preferred_frame_rate_0 = attempt(() => publisher.setPreferredFrameRate(0));
  out.mute_and_unmute = [
    attempt(() => publisher.publishVideo(false)),
    attempt(() => publisher.publishAudio(false)),
    attempt(() => publisher.publishVideo(true)),
    attempt(() => publisher.publishAudio(true)),
  ];
}

// The host-contract script every driver runs (see scenarios.json, `host`).
async function hostScript() {
  const out = {};
  const publisher = await lp.initPublisher(SYNTHETIC);
  const session = lp.initSession('loopback://');
  out.publish_not_connected = refused((cb) => session.publish(publisher, cb));
  out.receiver_stats_not_published = session.getReceiverStats(publisher);
  out.connect = outcome(await session.connect().then(() => null, (e) => e));
  out.connect_twice = refused((cb) => session.connect(null, cb));
  out.unpublish_not_published = refused((cb) => session.unpublish(publisher, cb));
  const completions = [];
  session.publish(publisher, (e) => completions.push(outcome(e)));
  session.close();
  out.close_with_publish_pending = [...completions];
  out.session_state_after_close = session.state;
  out.session_call_after_close = refused((cb) => session.connect(null, cb));
  await liveControl(publisher, out);
  publisher.close();
  out.publisher_state_after_close = publisher.state;
  out.switch_after_close = refused((cb) => publisher.setVideoSource('synthetic', cb));
  out.cycle_after_close = refused((cb) => publisher.cycleVideo(cb));
  out.mute_after_close = attempt(() => publisher.publishVideo(false));
  out.snapshot_after_close = outcome(await publisher.snapshot().then(() => null, (e) => e));
  // Node can reply with any value: the core reads it (only true allows).
  const replies = { true: true, false: false, 1: 1, '"yes"': 'yes', null: null };
  out.consent = {};
  for (const [key, reply] of Object.entries(replies)) out.consent[key] = await consentCode(reply);
  out.dynamic = await outOfRangeArguments();
  return out;
}

// Numbers C and Rust cannot even express (their types are unsigned): the same refusal.
async function outOfRangeArguments() {
  const publisher = await lp.initPublisher({ videoSource: 'custom', audioSource: 'custom' });
  const found = {};
  const cases = [
    ['width_-1', () => publisher.pushVideoFrame({ data: Buffer.alloc(0), width: -1, height: 2 })],
    ['width_2^32', () => publisher.pushVideoFrame({ data: Buffer.alloc(0), width: 2 ** 32, height: 2 })],
    ['sample_rate_-8000', () => publisher.pushAudioFrame({ samples: new Int16Array(1), sampleRate: -8000 })],
    ['timestamp_us_-1', () => publisher.pushAudioFrame({ samples: new Int16Array(1), timestampUs: -1 })],
  ];
  for (const [name, call] of cases) {
    try {
      call();
      found[name] = outcome(null);
    } catch (e) {
      if (!(e instanceof lp.Error)) throw e;
      found[name] = outcome(e);
    }
  }
  publisher.close();
  return found;
}

const results = [];
for (const scenario of scenarios.init_publisher ?? []) {
  results.push(await runInitPublisher(scenario));
}

process.stdout.write(
  `${JSON.stringify({
    language: 'node',
    version: lp.version,
    errors: table(lp.ErrorCode),
    reasons: table(lp.Reason),
    results,
    host: await hostScript(),
  })}\n`,
);
