/// <reference types="node" />
import { EventEmitter } from 'node:events';

/** The library's version, e.g. "0.1.0". */
export declare const version: string;

/** Stable error codes by name (the core's table; never renumbered). */
export declare const ErrorCode: Readonly<{
  OK: 0;
  AUTHENTICATION_ERROR: 1004;
  INVALID_SESSION_ID: 1005;
  CONNECT_FAILED: 1006;
  NOT_CONNECTED: 1010;
  INVALID_PARAMETER: 1011;
  ILLEGAL_STATE: 1015;
  CONNECT_TIMEOUT: 1021;
  CONNECTION_LIMIT_EXCEEDED: 1027;
  USER_MEDIA_ACCESS_DENIED: 1500;
  PUBLISH_TIMEOUT: 1541;
  CREATE_PEER_CONNECTION_FAILED: 1553;
  HARDWARE_UNAVAILABLE: 1580;
  NO_DEVICES_FOUND: 1581;
  DEVICE_NOT_FOUND: 1582;
  CONSTRAINTS_NOT_SATISFIED: 1583;
  MEDIA_SOURCE_INVALID: 1584;
  STREAM_CREATE_FAILED: 1590;
  SET_REMOTE_DESCRIPTION_FAILED: 1610;
  INTERNAL_ERROR: 2000;
  UNEXPECTED_SERVER_RESPONSE: 2001;
}>;
export type ErrorName = keyof typeof ErrorCode;

/** Why a stream was destroyed or a session disconnected, with the C API's numbers. */
export declare const Reason: Readonly<{
  clientDisconnected: 1;
  forceDisconnected: 2;
  forceUnpublished: 3;
  mediaStopped: 4;
  networkDisconnected: 5;
}>;
export type ReasonName = keyof typeof Reason;

/** Every event name a Publisher emits. */
export declare const publisherEvents: readonly (keyof PublisherEventMap)[];

/**
 * A library failure. `code` is stable and numeric, `name` its stable name
 * (e.g. 1500 / "USER_MEDIA_ACCESS_DENIED"); `message` is for people.
 */
declare class LibpublisherError extends globalThis.Error {
  readonly code: number;
  name: ErrorName;
}
export { LibpublisherError, LibpublisherError as Error };

/**
 * A source: `null` (none), `"default"`, a `deviceId` from `getDevices()`, `"synthetic"`
 * (test pattern / tone), `"file:PATH"` (Y4M video, WAV audio) or `"custom"`.
 */
export type SourceSpec = null | 'default' | 'synthetic' | 'custom' | `file:${string}` | `audio:${string}` | `video:${string}`;

/** What the access-request callback is asked to allow; `null` for a kind that needs no consent. */
export interface AccessRequest {
  audio: string | null;
  video: string | null;
}

/**
 * Options of `initPublisher`. Every key and value is checked by the library: an unknown key, a
 * wrong type or a bad value fails with 1011 INVALID_PARAMETER naming the field. `null` and
 * `undefined` are the same value (for a source: none).
 */
export interface PublisherOptions {
  /** Default `"default"` (the first camera). */
  videoSource?: SourceSpec | string;
  /** Default `"default"` (the first microphone). */
  audioSource?: SourceSpec | string;
  /** `"WIDTHxHEIGHT"`, even sides 16..3840. Default `"640x480"`. */
  resolution?: string;
  /** 1..60. Default 30. */
  frameRate?: number;
  /** Default true. */
  publishAudio?: boolean;
  /** Default true. */
  publishVideo?: boolean;
  /** The stream's name, shown to others. */
  name?: string | null;
  /** `"VP8"` (default) or `"H264"`. */
  videoCodec?: 'VP8' | 'H264' | string;
  /** How long to wait for each source's first frame, 1..600000 ms. Default 10000. */
  initTimeoutMs?: number;
  /**
   * Host consent before capture devices (and the synthetic stand-ins) open. Return `true` (or a
   * Promise of `true`) to allow; anything else, a throw or a rejection denies, and init then
   * fails with 1500 USER_MEDIA_ACCESS_DENIED. Without it, access is allowed.
   */
  accessRequest?: ((this: Publisher, request: AccessRequest) => boolean | PromiseLike<boolean>) | null;
}

export interface Device {
  kind: 'audioInput' | 'videoInput';
  /** Pass as `audioSource` / `videoSource`. */
  deviceId: string;
  label: string;
}

export interface PublisherStats {
  videoFramesCaptured: number;
  audioFramesCaptured: number;
}

export type PublisherState = 'initializing' | 'ready' | 'failed' | 'closed';

export interface PublisherEventMap {
  /** Consent was given and every source delivered its first frame (before the completion). */
  accessAllowed: [];
  /** Consent was denied; the completion then fails with this error (1500). */
  accessDenied: [error: LibpublisherError];
  streamCreated: [event: { streamId: string }];
  streamDestroyed: [event: { reason: ReasonName }];
  mediaStopped: [event: { kind: 'audio' | 'video' }];
  audioLevelUpdated: [event: { audioLevel: number }];
}

/**
 * A publisher, created by `initPublisher`. Listeners run on the main thread; an exception a
 * listener throws is reported as an uncaught exception and does not disturb the publisher.
 * Once initialization has completed it no longer keeps the process alive.
 */
export declare class Publisher extends EventEmitter {
  private constructor();
  readonly state: PublisherState;
  /** Unique in the process, never reused. */
  readonly id: number;
  getStats(): Promise<PublisherStats>;
  getStats(callback: (err: LibpublisherError | null, stats?: PublisherStats) => void): void;
  /**
   * Stops the publisher and frees its sources. When it returns, no event or callback of this
   * publisher runs any more; a pending `initPublisher` Promise rejects with 1015 ILLEGAL_STATE.
   * Idempotent; works from inside a listener.
   */
  close(): void;
  [Symbol.dispose](): void;

  on<K extends keyof PublisherEventMap>(event: K, listener: (...args: PublisherEventMap[K]) => void): this;
  once<K extends keyof PublisherEventMap>(event: K, listener: (...args: PublisherEventMap[K]) => void): this;
  off<K extends keyof PublisherEventMap>(event: K, listener: (...args: PublisherEventMap[K]) => void): this;
  addListener<K extends keyof PublisherEventMap>(event: K, listener: (...args: PublisherEventMap[K]) => void): this;
  removeListener<K extends keyof PublisherEventMap>(event: K, listener: (...args: PublisherEventMap[K]) => void): this;
  emit<K extends keyof PublisherEventMap>(event: K, ...args: PublisherEventMap[K]): boolean;
}

/** The Promise form of `initPublisher`, with the Publisher available before it settles. */
export interface PendingPublisher extends Promise<Publisher> {
  /** The publisher being initialized, to attach listeners at once; undefined if the options were invalid. */
  readonly publisher: Publisher | undefined;
}

/**
 * Acquires the sources (consent → open → first frame), as OT.initPublisher does.
 *
 * - With `callback`: returns the Publisher at once, so listeners for `accessAllowed` /
 *   `accessDenied` can be attached before they fire, and later calls `callback(err)` or
 *   `callback(null, publisher)`. Invalid options throw (1011) synchronously.
 * - Without: returns a Promise of the Publisher that rejects with the Error (invalid options
 *   included); `promise.publisher` gives the Publisher at once.
 *
 * Until it completes, the pending initialization keeps the process alive. If the publisher is
 * closed first, the callback is never called (the Promise rejects with 1015).
 */
export declare function initPublisher(options?: PublisherOptions | null): PendingPublisher;
export declare function initPublisher(
  options: PublisherOptions | null | undefined,
  callback: (this: Publisher, err: LibpublisherError | null, publisher?: Publisher) => void,
): Publisher;
export declare function initPublisher(
  callback: (this: Publisher, err: LibpublisherError | null, publisher?: Publisher) => void,
): Publisher;

/** The microphones and cameras present (an empty list on a machine without any). */
export declare function getDevices(): Promise<Device[]>;
export declare function getDevices(callback: (err: LibpublisherError | null, devices?: Device[]) => void): void;

export type LogLevelName = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LogRecord {
  level: Exclude<LogLevelName, 'off'>;
  /** The module that logged, e.g. "libpublisher::publisher". */
  target: string;
  message: string;
}

/**
 * Routes the library's log records at `level` (default "info") and more severe to `handler`,
 * called on the main thread; `null` stops logging. Without a handler, the environment variable
 * LIBPUBLISHER_LOG=<level> (or DEBUG=libpublisher, as the `debug` package reads it) prints
 * the records to stderr.
 */
export declare function setLogHandler(handler: ((record: LogRecord) => void) | null, level?: LogLevelName): void;
