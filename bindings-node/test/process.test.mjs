// Behaviour that needs a process of its own: exiting by itself, uncaught exceptions from user
// handlers, the logging environment variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

// Runs an ES module snippet (with `lp` imported) in a fresh node; resolves with its exit status
// and output, or `timedOut` when it did not exit by itself within `timeoutMs`.
function run(body, { env = {}, timeoutMs = 15000 } = {}) {
  const source = `import { createRequire } from 'node:module';\nconst lp = createRequire(import.meta.url)(${JSON.stringify(PACKAGE)});\n${body}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...process.env, LIBPUBLISHER_LOG: '', DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

const SYNTHETIC = `{ videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240', frameRate: 15 }`;

test('a script that leaves a ready publisher open exits by itself', async () => {
  const r = await run(`
    const publisher = await lp.initPublisher(${SYNTHETIC});
    publisher.on('mediaStopped', () => {});
    console.log('ready', publisher.state);
  `);
  assert.equal(r.timedOut, false, 'did not exit by itself');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ready ready$/m);
});

test('a script that closes its publisher exits by itself', async () => {
  const r = await run(`
    const publisher = await lp.initPublisher(${SYNTHETIC});
    lp.setLogHandler(() => {}, 'trace');
    publisher.close();
    console.log('closed');
  `);
  assert.equal(r.timedOut, false, 'did not exit by itself');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^closed$/m);
});

test('a pending init keeps the process alive until its callback', async () => {
  // Nothing else keeps this loop alive: without the binding's reference the process would
  // exit before the consent answer and the completion.
  const r = await run(`
    lp.initPublisher({ ...${SYNTHETIC}, accessRequest: () => new Promise((ok) => setTimeout(ok, 300, true).unref()) },
      (err, p) => console.log('done', err === null, p.state));
  `);
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done true ready$/m);
});

test('a failed init leaves nothing that keeps the process alive', async () => {
  const r = await run(`
    lp.initPublisher({ videoSource: 'video:none', audioSource: null }, (err) => console.log('failed', err.code));
  `);
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^failed 1582$/m);
});

test('throwing handlers surface as uncaught exceptions and do not break the library', async () => {
  const r = await run(`
    const uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    const order = [];
    // A throwing listener, a throwing completion callback, a throwing consent callback.
    const publisher = await new Promise((resolve) => {
      const p = lp.initPublisher(${SYNTHETIC}, (err, pub) => {
        order.push('done:' + (err ? err.code : 'ok'));
        setImmediate(() => resolve(pub));
        throw new Error('from the callback');
      });
      p.on('accessAllowed', () => { order.push('accessAllowed:1'); throw new Error('from a listener'); });
    });
    const before = (await publisher.getStats()).videoFramesCaptured;
    await new Promise((r) => setTimeout(r, 500));
    const after = (await publisher.getStats()).videoFramesCaptured;
    const denied = await lp.initPublisher({ ...${SYNTHETIC}, accessRequest() { throw new Error('from accessRequest'); } })
      .catch((e) => e.code);
    const again = await lp.initPublisher(${SYNTHETIC});
    console.log(JSON.stringify({ order, uncaught, counting: after > before, denied, again: again.state }));
    publisher.close();
  `);
  assert.equal(r.timedOut, false, 'did not exit by itself');
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(result.order, ['accessAllowed:1', 'done:ok']);
  assert.deepEqual(result.uncaught.sort(), ['from a listener', 'from accessRequest', 'from the callback']);
  assert.equal(result.counting, true);
  assert.equal(result.denied, 1500);
  assert.equal(result.again, 'ready');
});

test('without an uncaughtException handler a throwing listener ends the process like any Node error', async () => {
  const r = await run(`
    const p = lp.initPublisher(${SYNTHETIC}, () => {});
    p.on('accessAllowed', () => { throw new Error('listener bug'); });
  `);
  assert.equal(r.timedOut, false);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /listener bug/);
});

test('LIBPUBLISHER_LOG=debug prints the library logs to stderr', async () => {
  const script = `
    const publisher = await lp.initPublisher(${SYNTHETIC});
    publisher.close();
  `;
  const on = await run(script, { env: { LIBPUBLISHER_LOG: 'debug' } });
  assert.equal(on.code, 0, on.stderr);
  assert.match(on.stderr, /^libpublisher INFO +libpublisher::publisher: sources acquired/m);
  assert.match(on.stderr, /^libpublisher DEBUG +libpublisher::publisher: closed/m);

  const viaDebug = await run(script, { env: { DEBUG: 'express:*,libpublisher' } });
  assert.match(viaDebug.stderr, /libpublisher DEBUG/);

  const off = await run(script);
  assert.doesNotMatch(off.stderr, /^libpublisher /m);

  const bad = await run(script, { env: { LIBPUBLISHER_LOG: 'loud' } });
  assert.equal(bad.code, 0);
  assert.match(bad.stderr, /LIBPUBLISHER_LOG=loud ignored: level: expected one of/);
});

test('a script that connects, publishes, unpublishes and disconnects exits by itself without closing', async () => {
  const r = await run(`
    const publisher = await lp.initPublisher(${SYNTHETIC});
    const session = lp.initSession('loopback://');
    session.on('sessionDisconnected', ({ reason }) => console.log('sessionDisconnected', reason));
    await session.connect();
    await session.publish(publisher);
    await session.unpublish(publisher);
    await session.publish(publisher);
    await session.disconnect();
    console.log('done', session.state, publisher.state);
  `);
  assert.equal(r.timedOut, false, 'did not exit by itself');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sessionDisconnected clientDisconnected\ndone disconnected ready$/m);
});

test('a connected session keeps the process alive until it is disconnected', async () => {
  // Only the session can keep this process running until the unref'd timer fires.
  const r = await run(`
    const publisher = await lp.initPublisher(${SYNTHETIC});
    const session = lp.initSession('loopback://');
    await session.connect();
    await session.publish(publisher);
    const started = Date.now();
    setTimeout(async () => {
      const received = session.getReceiverStats(publisher);
      await session.disconnect();
      console.log('disconnected after', Date.now() - started, 'frames', received.videoFrames);
    }, 800).unref();
  `);
  assert.equal(r.timedOut, false, 'did not exit after disconnect');
  assert.equal(r.code, 0, r.stderr);
  const [, elapsed, frames] = /^disconnected after (\d+) frames (\d+)$/m.exec(r.stdout) || [];
  assert.ok(Number(elapsed) >= 790, r.stdout);
  assert.ok(Number(frames) > 0, r.stdout);
});

test('a closed session does not keep the process alive, even with a publish pending', async () => {
  const r = await run(`
    const publisher = await lp.initPublisher(${SYNTHETIC});
    const session = lp.initSession('loopback://');
    await session.connect();
    session.publish(publisher, (err) => console.log('completed', err.code));
    session.close();
    const other = lp.initSession('loopback://');
    await other.connect();
    try {
      await other.publish(publisher); // refused at once (1015) while the first stream is torn down
    } catch {}
    other.close();
    console.log('closed');
  `);
  assert.equal(r.timedOut, false, 'did not exit by itself');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^completed 1015\nclosed$/m);
});

test('a session callback keeps the process alive until it is called', async () => {
  const r = await run(`
    const session = lp.initSession('loopback://');
    session.connect((err) => {
      console.log('connected', err);
      session.disconnect(function (err) { console.log('disconnected', err, this === session); });
    });
  `);
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^connected null\ndisconnected null true$/m);
});

test('a throwing session listener surfaces as an uncaught exception and the session goes on', async () => {
  const r = await run(`
    const uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    const publisher = await lp.initPublisher(${SYNTHETIC});
    const session = lp.initSession('loopback://');
    session.on('sessionConnected', () => { throw new Error('from sessionConnected'); });
    publisher.on('streamCreated', () => { throw new Error('from streamCreated'); });
    await session.connect();
    await session.publish(publisher);
    await new Promise((r) => setTimeout(r, 200));
    await session.disconnect();
    console.log(JSON.stringify({ uncaught, state: session.state }));
  `);
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(result.uncaught.sort(), ['from sessionConnected', 'from streamCreated']);
  assert.equal(result.state, 'disconnected');
});
