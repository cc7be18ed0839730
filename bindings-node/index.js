'use strict';

// The public Node API of libpublisher. The native module (libpublisher.node) does the work and
// marshals every library callback onto this thread; this file only gives it the shape Node
// users expect: EventEmitter, Promises or error-first callbacks, Error objects with codes.

const { EventEmitter } = require('node:events');
const path = require('node:path');

const native = loadNative();

function loadNative() {
  const file = path.join(__dirname, 'libpublisher.node');
  try {
    return require(file);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') {
      throw new globalThis.Error(
        `libpublisher: the native module ${file} is missing; build it with "node build.js" in ${__dirname}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** The library's version, e.g. "0.1.0". */
const version = native.version();

/** Stable error codes by name, from the core's table. */
const ErrorCode = Object.freeze(Object.fromEntries(native.errorCodes().map((e) => [e.name, e.code])));

/** Why a stream was destroyed or a session disconnected, by name, with the C API's numbers. */
const Reason = Object.freeze(Object.fromEntries(native.reasons().map((r) => [r.name, r.code])));

/** Every event a Publisher emits. */
const publisherEvents = Object.freeze(native.publisherEventNames());

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

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'undefined' ? 'undefined' : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

function invalidArgument(name, expected, value) {
  return new LibpublisherError(
    ErrorCode.INVALID_PARAMETER,
    'INVALID_PARAMETER',
    `${name}: expected ${expected}, got ${describe(value)}`,
  );
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

function checkCallback(callback) {
  if (callback !== undefined && callback !== null && typeof callback !== 'function') {
    throw invalidArgument('callback', 'a function', callback);
  }
  return callback || null;
}

// Settles `promise` through an error-first callback when one is given, else returns it.
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

let startPublisher;

/**
 * A publisher: its sources are acquired by `initPublisher`. Events: `accessAllowed`,
 * `accessDenied` (error), `streamCreated`, `streamDestroyed`, `mediaStopped`,
 * `audioLevelUpdated`.
 */
class Publisher extends EventEmitter {
  #native = null;
  #accessRequest = null;
  /** The completion still owed: `{done(err), closed()}`. */
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
  }

  #start(options, pending) {
    if (options !== null && typeof options === 'object') {
      this.#accessRequest = options.accessRequest;
    }
    const result = native.initPublisher(options, (kind, a, b) => this.#dispatch(kind, a, b));
    if (!(result instanceof native.NativePublisher)) {
      throw toError(result);
    }
    this.#native = result;
    this.#pending = pending;
  }

  #dispatch(kind, a, b) {
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
      case 'done': {
        const pending = this.#pending;
        this.#pending = null;
        if (pending) pending.done(a === null ? null : toError(a));
        break;
      }
      default:
        break; // a message made obsolete by close()
    }
  }

  // The library thread waits for this answer; anything but `true` (or a Promise of it) denies.
  #askConsent(request, reply) {
    let answer;
    try {
      answer = this.#accessRequest.call(this, request);
    } catch (e) {
      reply.answer(false);
      rethrowLater(e);
      return;
    }
    if (answer !== null && (typeof answer === 'object' || typeof answer === 'function') && typeof answer.then === 'function') {
      Promise.resolve(answer).then(
        (value) => reply.answer(value === true),
        (err) => {
          reply.answer(false);
          rethrowLater(err);
        },
      );
    } else {
      reply.answer(answer === true);
    }
  }

  /** `"initializing"`, `"ready"`, `"failed"` or `"closed"`. */
  get state() {
    return this.#native.state;
  }

  /** Unique in the process, never reused. */
  get id() {
    return this.#native.id;
  }

  /**
   * Counters: `{videoFramesCaptured, audioFramesCaptured}`. Resolves the Promise, or calls
   * `callback(err, stats)` when one is given.
   */
  getStats(callback) {
    callback = checkCallback(callback);
    const result = this.#native.stats();
    const stats = 'code' in result ? Promise.reject(toError(result)) : Promise.resolve(result);
    return settle(stats, callback);
  }

  /**
   * Stops the publisher and frees its sources. Once it returns no event or completion callback
   * of this publisher runs; the Promise of a pending `initPublisher` rejects with 1015.
   * Closing twice is harmless; closing from inside an event handler works.
   */
  close() {
    const error = this.#native.close();
    const pending = this.#pending;
    this.#pending = null;
    if (pending) pending.closed();
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
 * also available at once as `promise.publisher` (undefined when the options are invalid).
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
      closed: () => {},
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
  try {
    publisher = startPublisher(options, {
      done: (err) => (err ? reject(err) : resolve(publisher)),
      closed: () => {
        // The caller closed it: an ignored Promise must not become an unhandled rejection.
        promise.catch(() => {});
        reject(
          new LibpublisherError(
            ErrorCode.ILLEGAL_STATE,
            'ILLEGAL_STATE',
            'the publisher was closed before initPublisher completed',
          ),
        );
      },
    });
  } catch (e) {
    reject(e);
  }
  Object.defineProperty(promise, 'publisher', { value: publisher, enumerable: true });
  return promise;
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

// LIBPUBLISHER_LOG=debug (or any level) prints the library's logs to stderr; so does a DEBUG
// variable that selects the "libpublisher" namespace, as the `debug` package reads it.
function debugSelects(spec, namespace) {
  let selected = false;
  for (const part of String(spec || '').split(/[\s,]+/)) {
    if (!part) continue;
    const negated = part.startsWith('-');
    const pattern = negated ? part.slice(1) : part;
    const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*?')}$`);
    if (re.test(namespace)) {
      if (negated) return false;
      selected = true;
    }
  }
  return selected;
}

const envLevel =
  process.env.LIBPUBLISHER_LOG || (debugSelects(process.env.DEBUG, 'libpublisher') ? 'debug' : '');
if (envLevel) {
  const error = native.logToStderr(envLevel);
  if (error) process.emitWarning(`LIBPUBLISHER_LOG=${envLevel} ignored: ${error.message}`);
}

module.exports = {
  version,
  ErrorCode,
  Reason,
  publisherEvents,
  Error: LibpublisherError,
  LibpublisherError,
  Publisher,
  getDevices,
  initPublisher,
  setLogHandler,
};
