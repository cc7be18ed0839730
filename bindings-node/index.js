'use strict';

// The public Node API of libpublisher. The native module (libpublisher.node) does the work and
// marshals every library callback onto this thread; this file only gives it the shape Node
// users expect: EventEmitter, Promises or error-first callbacks, Error objects with codes.

const { EventEmitter } = require('node:events');

// A build from source next to this file, else the prebuilt package for this platform
// (loader.js); its error says how to build when neither loads.
const native = require('./loader.js').load().native;

/** The library's version, e.g. "0.1.0". */
const version = native.version();

/** Stable error codes by name, from the core's table. */
const ErrorCode = Object.freeze(Object.fromEntries(native.errorCodes().map((e) => [e.name, e.code])));

/** Why a stream was destroyed or a session disconnected, by name, with the C API's numbers. */
const Reason = Object.freeze(Object.fromEntries(native.reasons().map((r) => [r.name, r.code])));

/** Every event a Publisher emits. */
const publisherEvents = Object.freeze(native.publisherEventNames());

/** Every event a Session emits. */
const sessionEvents = Object.freeze(native.sessionEventNames());

/** A library failure: `code` is the stable number, `name` its stable name. */
class LibpublisherError extends globalThis.Error {
  constructor(code, name, message) {
    super(message);
    // An own `name` so that stacks and util.inspect read "USER_MEDIA_ACCESS_DENIED: ...".
    Object.defineProperty(this, 'name', { value: name, writable: true, configurable: true });
    this.code = code;
  }
}

function toError(info) {
  return new LibpublisherError(info.code, info.name, info.message);
}

// The core's 1011 for an argument that is not of the JS type `expected` names.
function invalidArgument(name, expected, value) {
  return toError(native.wrongTypeError(name, expected, value));
}

// An exception from user code must not unwind into the library's dispatch: it is re-raised on
// its own tick, where Node reports it like any other uncaught exception.
function rethrowLater(err) {
  process.nextTick(() => {
    throw err;
  });
}

function callUser(fn, self, ...args) {
  try {
    return fn.apply(self, args);
  } catch (e) {
    rethrowLater(e);
    return undefined;
  }
}

// Argument shapes for the push calls; the library checks the values.
function fields(name, value) {
  if (value === null || typeof value !== 'object') throw invalidArgument(name, 'an object', value);
  return value;
}

// A view of the bytes of a Buffer, typed array, DataView or ArrayBuffer, without copying.
function bytesOf(name, value) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw invalidArgument(name, 'a Buffer, a typed array or an ArrayBuffer', value);
}

function numberArg(name, value) {
  if (typeof value !== 'number') throw invalidArgument(name, 'a number', value);
  return value;
}

function stringArg(name, value) {
  if (typeof value !== 'string') throw invalidArgument(name, 'a string', value);
  return value;
}

function booleanArg(name, value) {
  if (typeof value !== 'boolean') throw invalidArgument(name, 'true or false', value);
  return value;
}

function optionalNumber(name, value) {
  return value === undefined || value === null ? undefined : numberArg(name, value);
}

function checkCallback(callback) {
  if (callback !== undefined && callback !== null && typeof callback !== 'function') {
    throw invalidArgument('callback', 'a function', callback);
  }
  return callback || null;
}

// Settles `promise` through an error-first callback when one is given, else returns it.
// The calls a handle started in the library and that have not completed yet, by the core's
// call number. Each completes once: its callback runs, or its Promise settles.
class PendingCalls {
  #calls = new Map();

  // `call` is what the native start returned: the call's number when accepted, else the
  // error, thrown (refused at once, as in every language: the completion never runs).
  start(owner, callback, call) {
    if (typeof call !== 'number') throw call instanceof LibpublisherError ? call : toError(call);
    let settle;
    let promise;
    if (callback) {
      settle = (err, value) => (value === undefined ? callUser(callback, owner, err) : callUser(callback, owner, err, value));
    } else {
      promise = new Promise((resolve, reject) => {
        settle = (err, value) => (err ? reject(err) : resolve(value));
      });
    }
    this.#calls.set(call, { promise, settle });
    return promise;
  }

  has(call) {
    return this.#calls.has(call);
  }

  // `result`: null (done), the call's value (a string: `cycleVideo`'s device id), or the error.
  complete(call, result) {
    const pending = this.#calls.get(call);
    if (!pending) return;
    this.#calls.delete(call);
    if (result === null || result === undefined) pending.settle(null);
    else if (typeof result === 'string') pending.settle(null, result);
    else pending.settle(toError(result));
  }

  // A call `close` completed: its Promise rejecting is the caller's doing, not unhandled.
  completeClosed(call, error) {
    const pending = this.#calls.get(call);
    if (pending && pending.promise) pending.promise.catch(() => {});
    this.complete(call, error);
  }
}

function settle(promise, callback) {
  if (!callback) return promise;
  promise.then(
    (value) => callUser(callback, undefined, null, value),
    (err) => callUser(callback, undefined, err),
  );
  return undefined;
}

/**
 * Lists the microphones and cameras present: `[{kind, deviceId, label}]`. Resolves the Promise,
 * or calls `callback(err, devices)` when one is given.
 */
function getDevices(callback) {
  callback = checkCallback(callback);
  const devices = native.getDevices().then((result) => {
    if (Array.isArray(result)) return result;
    throw toError(result);
  });
  return settle(devices, callback);
}

// Every handle's messages reach this thread through one queue, in the order the library
// produced them, also across handles: a session's publish completion comes before the
// publisher's streamCreated, a publisher's streamDestroyed before the unpublish completion.
// `routes` maps a handle's route to its dispatch function while the core says messages can
// come for it (`routed`); the core also decides when the queue keeps the process alive.
const routes = new Map();
const router = new native.Router((route, kind, a, b) => {
  const dispatch = routes.get(route);
  if (dispatch) dispatch(kind, a, b);
});

function track(handle, dispatch) {
  if (handle.routed) routes.set(handle.route, dispatch);
  else routes.delete(handle.route);
}

let startPublisher;
let nativeOf;

/**
 * A publisher: its sources are acquired by `initPublisher`. Events: `accessAllowed`,
 * `accessDenied` (error), `streamCreated`, `streamDestroyed`, `mediaStopped`,
 * `audioLevelUpdated`, `videoDimensionsChanged`, `videoDisableWarning`,
 * `videoDisableWarningLifted`, `videoDisabled` and `videoEnabled` (reason `quality`).
 */
class Publisher extends EventEmitter {
  #native = null;
  #accessRequest = null;
  /** The completion still owed: `{done(err)}`. */
  #pending = null;

  constructor(token) {
    super();
    if (token !== startPublisher) {
      throw new TypeError('use initPublisher() to create a Publisher');
    }
  }

  static {
    startPublisher = (options, pending) => {
      const publisher = new Publisher(startPublisher);
      publisher.#start(options, pending);
      return publisher;
    };
    nativeOf = (value) => (value !== null && typeof value === 'object' && #native in value ? value.#native : null);
  }

  #dispatchFn = (kind, a, b) => this.#dispatch(kind, a, b);

  #start(options, pending) {
    if (options !== null && typeof options === 'object') {
      this.#accessRequest = options.accessRequest;
    }
    const result = native.initPublisher(router, options);
    if (!(result instanceof native.NativePublisher)) {
      throw toError(result);
    }
    this.#native = result;
    this.#pending = pending;
    track(result, this.#dispatchFn);
  }

  #done(error) {
    const pending = this.#pending;
    this.#pending = null;
    if (pending) pending.done(error === null ? null : toError(error));
  }

  #dispatch(kind, a, b) {
    track(this.#native, this.#dispatchFn);
    switch (kind) {
      case 'event': {
        const payload = a === 'accessDenied' ? toError(b) : b;
        if (payload === undefined) callUser(this.emit, this, a);
        else callUser(this.emit, this, a, payload);
        break;
      }
      case 'consent':
        this.#askConsent(a, b);
        break;
      case 'done':
        if (this.#calls.has(b)) this.#calls.complete(b, a);
        else this.#done(a);
        break;
      default:
        break;
    }
  }

  // The calls after init (`setVideoSource`, ...).
  #calls = new PendingCalls();

  #call(callback, invoke) {
    const promise = this.#calls.start(this, callback, invoke());
    track(this.#native, this.#dispatchFn);
    return promise;
  }

  /**
   * Switches the video to `source` (a device id, 'synthetic', 'file:PATH', 'custom') while
   * ready or publishing, on the same track. Returns a Promise (or calls `callback(err)`);
   * on failure (1500, 1580, 1582, 1584, ...) the old source stays. Throws at once 1011 for a
   * wrong source string, 1015 when not ready or publishing, without video, or while another
   * switch is under way.
   */
  setVideoSource(source, callback) {
    callback = checkCallback(callback);
    return this.#call(callback, () => this.#native.setVideoSource(stringArg('source', source)));
  }

  /**
   * Switches the video to the next camera `getDevices()` lists (after the current one,
   * wrapping round; the first when the video is not a camera), as `setVideoSource` does.
   * Resolves with `{ deviceId }` (or calls `callback(null, { deviceId })`); on failure the old
   * source stays. Throws at once 1581 when no camera is present, 1015 as `setVideoSource`.
   */
  cycleVideo(callback) {
    callback = checkCallback(callback);
    const wrapped = callback && ((err, deviceId) => callback.call(this, err, err ? undefined : { deviceId }));
    const promise = this.#call(wrapped, () => this.#native.cycleVideo());
    return promise && promise.then((deviceId) => ({ deviceId }));
  }

  /**
   * Sends video at most at `resolution` ('WxH'), before or while publishing: a ceiling under
   * the source's size, under which the network adaptation still steps down. Throws 1011 for a
   * wrong resolution, 1015 when the publisher failed or is closed.
   */
  setPreferredResolution(resolution) {
    const error = this.#native.setPreferredResolution(stringArg('resolution', resolution));
    if (error) throw toError(error);
  }

  /** Sends video at most `frameRate` frames a second (1-60), as `setPreferredResolution` does for the size. */
  setPreferredFrameRate(frameRate) {
    const error = this.#native.setPreferredFrameRate(numberArg('frameRate', frameRate));
    if (error) throw toError(error);
  }

  /** Switches the audio to `source`, as `setVideoSource` does for video. */
  setAudioSource(source, callback) {
    callback = checkCallback(callback);
    return this.#call(callback, () => this.#native.setAudioSource(stringArg('source', source)));
  }

  // The library thread waits for this answer; the core reads it (only `true`, or a Promise of
  // it, allows) and denies for a callback that fails.
  #askConsent(request, reply) {
    let answer;
    try {
      answer = this.#accessRequest.call(this, request);
    } catch (e) {
      reply.deny();
      rethrowLater(e);
      return;
    }
    if (answer !== null && (typeof answer === 'object' || typeof answer === 'function') && typeof answer.then === 'function') {
      Promise.resolve(answer).then(
        (value) => reply.answer(value),
        (err) => {
          reply.deny();
          rethrowLater(err);
        },
      );
    } else {
      reply.answer(answer);
    }
  }

  /** `"initializing"`, `"ready"`, `"publishing"`, `"failed"` or `"closed"`. */
  get state() {
    return this.#native.state;
  }

  /** Unique in the process, never reused. */
  get id() {
    return this.#native.id;
  }

  /**
   * Counters (see PublisherStats in index.d.ts); the sending figures cover the current stream.
   * Resolves the Promise, or calls `callback(err, stats)` when one is given.
   */
  /**
   * The latest captured video frame as PNG bytes (a Buffer: RGB, at the captured size), for
   * previews and thumbnails. Rejects (or calls back) with 1015 when the publisher is not ready
   * or publishing, has no video, or captured no frame yet.
   */
  snapshot(callback) {
    callback = checkCallback(callback);
    const result = this.#native.snapshot();
    const png = Buffer.isBuffer(result) ? Promise.resolve(result) : Promise.reject(toError(result));
    return settle(png, callback);
  }

  getStats(callback) {
    callback = checkCallback(callback);
    const result = this.#native.stats();
    const stats = 'code' in result ? Promise.reject(toError(result)) : Promise.resolve(result);
    return settle(stats, callback);
  }

  /**
   * Pushes one frame to a `'custom'` video source: `{data, width, height, format?, timestampUs?}`
   * with `data` a Buffer or Uint8Array (any ArrayBuffer view) of packed I420 (Y, U, V planes
   * without padding; the default `format: 'i420'`) or RGBA rows (`'rgba'`). It is converted to
   * the publisher's resolution and frame rate before this returns, so the memory may be reused
   * at once. Throws 1011 for a wrong frame, 1015 when the video source is not custom or the
   * publisher is closed.
   */
  pushVideoFrame(frame) {
    const { data, width, height, format, timestampUs } = fields('frame', frame);
    const error = this.#native.pushVideoFrame(
      bytesOf('data', data),
      numberArg('width', width),
      numberArg('height', height),
      format === undefined ? undefined : stringArg('format', format),
      optionalNumber('timestampUs', timestampUs),
    );
    if (error) throw toError(error);
  }

  /**
   * Pushes interleaved PCM to a `'custom'` audio source: `{samples, sampleRate?, channels?,
   * timestampUs?}` with `samples` an Int16Array, a Float32Array (full scale ±1) or a Buffer of
   * 16-bit samples in the machine's order, mono (default) or stereo, at `sampleRate` (default
   * 48000). Any length; push in real time. Throws 1011 for wrong audio, 1015 when the audio
   * source is not custom or the publisher is closed.
   */
  pushAudioFrame(audio) {
    const { samples, sampleRate, channels, timestampUs } = fields('audio', audio);
    const kind = samples instanceof Float32Array ? 'f32' : 'i16';
    const error = this.#native.pushAudioFrame(
      bytesOf('samples', samples),
      kind,
      sampleRate === undefined ? undefined : numberArg('sampleRate', sampleRate),
      channels === undefined ? undefined : numberArg('channels', channels),
      optionalNumber('timestampUs', timestampUs),
    );
    if (error) throw toError(error);
  }

  /**
   * Turns video off (`false`) or on again, before or while publishing: off, no video goes out
   * but the track stays; on, it resumes with a keyframe. `videoDisabled` / `videoEnabled`
   * follow with reason `publishVideo` when it changes. Throws 1015 when the publisher failed,
   * is closed or has no video.
   */
  publishVideo(on) {
    const error = this.#native.publishVideo(booleanArg('on', on));
    if (error) throw toError(error);
  }

  /**
   * Turns audio off (`false`: the track sends silence) or on again, as `publishVideo` does;
   * `audioDisabled` / `audioEnabled` follow with reason `publishAudio`.
   */
  publishAudio(on) {
    const error = this.#native.publishAudio(booleanArg('on', on));
    if (error) throw toError(error);
  }

  /**
   * Stops the publisher and frees its sources; a published stream ends. Once it returns no
   * event or completion callback of this publisher runs; the Promise of a pending
   * `initPublisher` rejects with 1015. Closing twice is harmless; closing from inside an event
   * handler works.
   */
  close() {
    const { error, completed } = this.#native.close();
    track(this.#native, this.#dispatchFn);
    for (const call of completed) {
      if (this.#calls.has(call.call)) {
        this.#calls.completeClosed(call.call, call.error);
        continue;
      }
      if (this.#pending && this.#pending.promise) this.#pending.promise.catch(() => {}); // the caller closed it: not unhandled
      this.#done(call.error);
    }
    if (error) throw toError(error);
  }

  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    return `Publisher { id: ${this.id}, state: ${inspect(this.state, options)} }`;
  }
}

if (typeof Symbol.dispose === 'symbol') {
  Publisher.prototype[Symbol.dispose] = Publisher.prototype.close;
}

/**
 * Starts acquiring the sources `options` name (consent → open → first frame).
 *
 * With `callback`: returns the Publisher at once (attach listeners to it right away) and later
 * calls `callback(err)` or `callback(null, publisher)`; invalid options throw.
 * Without: returns a Promise of the Publisher that rejects with the Error; the Publisher is
 * also available at once as `promise.publisher`. Invalid options throw (1011) in both forms.
 */
function initPublisher(options, callback) {
  if (typeof options === 'function' && callback === undefined) {
    callback = options;
    options = undefined;
  }
  callback = checkCallback(callback);
  if (callback) {
    let publisher = null;
    publisher = startPublisher(options, {
      done: (err) => (err ? callUser(callback, publisher, err) : callUser(callback, publisher, null, publisher)),
    });
    return publisher;
  }

  let publisher;
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Invalid options throw here, as in the callback form and in every language.
  publisher = startPublisher(options, {
    promise,
    done: (err) => (err ? reject(err) : resolve(publisher)),
  });
  Object.defineProperty(promise, 'publisher', { value: publisher, enumerable: true });
  return promise;
}

let startSession;

/**
 * A session on a media server, chosen by its URL (`loopback://`, ...). Events:
 * `sessionConnected`, `sessionDisconnected` ({reason}), `sessionReconnecting`,
 * `sessionReconnected`.
 *
 * `connect`, `publish`, `unpublish` and `disconnect` return a Promise, or take a callback
 * `cb(err)`. Every failure of theirs, also one known at once (1010 NOT_CONNECTED, 1015
 * ILLEGAL_STATE), arrives that way, as OpenTok's completion handlers report it; only a
 * callback that is not a function throws.
 */
class Session extends EventEmitter {
  #native = null;
  /** Calls accepted and not completed yet. */
  #calls = new PendingCalls();
  #dispatchFn = (kind, a, b) => this.#dispatch(kind, a, b);

  constructor(token) {
    super();
    if (token !== startSession) {
      throw new TypeError('use initSession() to create a Session');
    }
  }

  static {
    startSession = (url, options) => {
      const result = native.initSession(router, url, options);
      if (!(result instanceof native.NativeSession)) {
        throw toError(result);
      }
      const session = new Session(startSession);
      session.#native = result;
      return session;
    };
  }

  #dispatch(kind, a, b) {
    track(this.#native, this.#dispatchFn);
    switch (kind) {
      case 'event':
        if (b === undefined) callUser(this.emit, this, a);
        else callUser(this.emit, this, a, b);
        break;
      case 'done':
        this.#calls.complete(b, a);
        break;
      default:
        break;
    }
  }

  // `invoke()` starts the call in the library: its number when accepted, else the error.
  #call(callback, invoke) {
    const promise = this.#calls.start(this, callback, invoke());
    track(this.#native, this.#dispatchFn);
    return promise;
  }

  /** Connects with `token` (optional). Completes after `sessionConnected`. */
  connect(token, callback) {
    if (typeof token === 'function' && callback === undefined) {
      callback = token;
      token = undefined;
    }
    callback = checkCallback(callback);
    return this.#call(callback, () => this.#native.connect(token));
  }

  /** Publishes a ready publisher; completes when media flows, then the publisher emits `streamCreated`. */
  publish(publisher, callback) {
    callback = checkCallback(callback);
    return this.#call(callback, () => {
      const target = nativeOf(publisher);
      if (!target) return invalidArgument('publisher', 'a Publisher', publisher);
      return this.#native.publish(target);
    });
  }

  /** Stops publishing `publisher`: it emits `streamDestroyed` (clientDisconnected), then this completes. */
  unpublish(publisher, callback) {
    callback = checkCallback(callback);
    return this.#call(callback, () => {
      const target = nativeOf(publisher);
      if (!target) return invalidArgument('publisher', 'a Publisher', publisher);
      return this.#native.unpublish(target);
    });
  }

  /**
   * Every stream ends (`streamDestroyed`), then `sessionDisconnected` (clientDisconnected),
   * then this completes. On a session that is not connected it completes at once.
   */
  disconnect(callback) {
    callback = checkCallback(callback);
    return this.#call(callback, () => this.#native.disconnect());
  }

  /**
   * What the embedded receiver of a `loopback://` session got from `publisher`, or null (not
   * published here, or another backend).
   */
  getReceiverStats(publisher) {
    const target = nativeOf(publisher);
    if (!target) throw invalidArgument('publisher', 'a Publisher', publisher);
    const result = this.#native.receiverStats(target);
    if (result !== null && 'code' in result) throw toError(result);
    return result;
  }

  /** `"disconnected"`, `"connecting"`, `"connected"`, `"disconnecting"` or `"closed"`. */
  get state() {
    return this.#native.state;
  }

  /** Unique in the process, never reused. */
  get id() {
    return this.#native.id;
  }

  /** The URL it was made for. */
  get url() {
    return this.#native.url;
  }

  /**
   * Stops everything at once: its streams end (their publishers emit `streamDestroyed`). Once it
   * returns no event or callback of this session runs; pending Promises reject with 1015.
   * Closing twice is harmless; closing from inside an event handler works.
   */
  close() {
    const { error, completed } = this.#native.close();
    track(this.#native, this.#dispatchFn);
    // Every pending call completes once, with the core's 1015, before close returns.
    for (const { call, error: callError } of completed) this.#calls.completeClosed(call, callError);
    if (error) throw toError(error);
  }

  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    return `Session { id: ${this.id}, url: ${inspect(this.url, options)}, state: ${inspect(this.state, options)} }`;
  }
}

if (typeof Symbol.dispose === 'symbol') {
  Session.prototype[Symbol.dispose] = Session.prototype.close;
}

/**
 * Makes a session for `url`: `loopback://` (the receiver embedded in the library), ... Options:
 * `connectTimeoutMs`, `publishTimeoutMs`, `iceTimeoutMs`. Nothing touches the network until
 * `connect`. Throws 1005 INVALID_SESSION_ID for a malformed URL or unknown scheme, 1011 for
 * bad options.
 */
function initSession(url, options) {
  return startSession(url, options);
}

/**
 * Routes the library's log records `{level, target, message}` at `level` (default "info") and
 * more severe to `handler` on the main thread; `null` stops logging. Replaces the stderr output
 * that LIBPUBLISHER_LOG enables.
 */
function setLogHandler(handler, level) {
  if (handler !== null && handler !== undefined && typeof handler !== 'function') {
    throw invalidArgument('handler', 'a function or null', handler);
  }
  const forward =
    typeof handler === 'function'
      ? (lvl, target, message) => callUser(handler, undefined, { level: lvl, target, message })
      : null;
  const error = native.setLogHandler(forward, level);
  if (error) throw toError(error);
}

// LIBPUBLISHER_LOG=debug (or any level), or a DEBUG variable that selects the "libpublisher"
// namespace, prints the library's logs to stderr (read by the core).
const ignoredLogEnv = native.logFromEnv();
if (ignoredLogEnv) process.emitWarning(ignoredLogEnv);

module.exports = {
  version,
  ErrorCode,
  Reason,
  publisherEvents,
  sessionEvents,
  Error: LibpublisherError,
  LibpublisherError,
  Publisher,
  Session,
  getDevices,
  initPublisher,
  initSession,
  setLogHandler,
};
