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

/** Why a stream was destroyed, a session disconnected, or video went off or on, with the C API's numbers. */
export declare const Reason: Readonly<{
  clientDisconnected: 1;
  forceDisconnected: 2;
  forceUnpublished: 3;
  mediaStopped: 4;
  networkDisconnected: 5;
  quality: 6;
  publishVideo: 7;
  publishAudio: 8;
}>;
export type ReasonName = keyof typeof Reason;

/** Every event name a Publisher emits. */
export declare const publisherEvents: readonly (keyof PublisherEventMap)[];

/** Every event name a Session emits. */
export declare const sessionEvents: readonly (keyof SessionEventMap)[];

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
export type SourceSpec = null | 'default' | 'synthetic' | 'custom' | `file:${string}` | `audio:${string}` | `video:${string}` | 'screen' | `screen:${number}`;

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
  /** Whether audio is on at first (default true); off, the track still exists and sends silence until `publishAudio(true)`. */
  publishAudio?: boolean;
  /** Whether video is on at first (default true); off, the track still exists and the source opens at `publishVideo(true)`. */
  publishVideo?: boolean;
  /** The stream's name, shown to others. */
  name?: string | null;
  /** `"VP8"` (default) or `"H264"`. */
  videoCodec?: 'VP8' | 'H264' | string;
  /** How long to wait for each source's first frame, 1..600000 ms. Default 10000. */
  initTimeoutMs?: number;
  /**
   * What video gives up first when the network carries too little: `"balanced"` (default;
   * size and frame rate in turn), `"maintain-framerate"` (size only) or `"maintain-resolution"`
   * (frame rate only).
   */
  degradationPreference?: 'balanced' | 'maintain-framerate' | 'maintain-resolution';
  /**
   * The most video may send, kbit/s, 0..100000; 0 (default) lets the library choose by size
   * and frame rate.
   */
  maxVideoBitrateKbps?: number;
  /**
   * Simulcast: 0 (off, default), 2 layers (full and 1/2 size) or 3 (full, 1/2 and 1/4), each
   * its own encoder and bitrate, sent with rids to a server that takes them (Janus); a server
   * that does not gets the full size alone. The top layer stops first when the network narrows.
   */
  simulcast?: 0 | 2 | 3;
  /**
   * Whether video stops (audio goes on) when the network stays too narrow for video (under
   * ~125 kbit/s for it), and comes back with the network, with the events
   * `videoDisableWarning`, `videoDisabled`, `videoEnabled`. Needs audio. Default true.
   */
  audioFallback?: boolean;
  /**
   * Host consent before capture devices (and the synthetic stand-ins) open. Return `true` (or a
   * Promise of `true`) to allow; anything else, a throw or a rejection denies, and init then
   * fails with 1500 USER_MEDIA_ACCESS_DENIED, as in every language. Without it, access is
   * allowed.
   */
  accessRequest?: ((this: Publisher, request: AccessRequest) => boolean | PromiseLike<boolean>) | null;
}

export interface Device {
  kind: 'audioInput' | 'videoInput' | 'screen';
  /** Pass as `audioSource` / `videoSource`. */
  deviceId: string;
  label: string;
}

/**
 * Counters of a publisher. The sending figures cover the current stream (0 when not
 * published); the transport figures (packets, bytes, RTT, loss) are at most a second old.
 */
export interface PublisherStats {
  /** Video frames the video source produced. */
  videoFramesCaptured: number;
  /** 10 ms audio frames the audio source produced. */
  audioFramesCaptured: number;
  /** Video frames encoded and sent. */
  videoFramesSent: number;
  /** Of which keyframes. */
  videoKeyframesSent: number;
  /** Audio packets (20 ms each) encoded and sent. */
  audioPacketsSent: number;
  /** RTP packets sent, retransmissions included. */
  packetsSent: number;
  /** RTP payload bytes sent, retransmissions included. */
  bytesSent: number;
  /** Send bitrate over the last second, bit/s. */
  bitrateBps: number;
  /** Round-trip time from the receiver's RTCP reports, ms (0 before the first report). */
  rttMs: number;
  /** Packets the receiver reported lost. */
  packetsLost: number;
  /** RTP packets resent because the receiver reported them lost (NACK). */
  retransmittedPacketsSent: number;
  /** Payload bytes of those packets. */
  retransmittedBytesSent: number;
  /** What the video encoder is asked for now, bit/s (W3C `targetBitrate`); 0 without video. */
  targetBitrateBps: number;
  /**
   * What the network is estimated to carry for all the media, bit/s (W3C
   * `availableOutgoingBitrate`).
   */
  availableOutgoingBitrateBps: number;
  /** The width video is sent at now (0 before publishing). */
  frameWidth: number;
  /** The height video is sent at now (0 before publishing). */
  frameHeight: number;
  /** Video frames encoded over the last second. */
  framesPerSecond: number;
  /**
   * Why video is sent below the source's size or frame rate (W3C `qualityLimitationReason`);
   * `'none'` when not published.
   */
  qualityLimitationReason: QualityLimitationReason;
}

/** Why video is sent below the source's size or frame rate (W3C `RTCQualityLimitationReason`). */
export type QualityLimitationReason = 'none' | 'bandwidth' | 'cpu';

/** `"publishing"` from `session.publish()` until the stream ends. */
export type PublisherState = 'initializing' | 'ready' | 'publishing' | 'failed' | 'closed';

export interface PublisherEventMap {
  /** Consent was given and every source delivered its first frame (before the completion). */
  accessAllowed: [];
  /** Consent was denied; the completion then fails with this error (1500). */
  accessDenied: [error: LibpublisherError];
  /** The stream is live on the session (after `session.publish` completed). */
  streamCreated: [event: { streamId: string }];
  /** The stream ended: `clientDisconnected` after unpublish/disconnect, `networkDisconnected`, ... */
  streamDestroyed: [event: { reason: ReasonName }];
  mediaStopped: [event: { kind: 'audio' | 'video' }];
  audioLevelUpdated: [event: { audioLevel: number }];
  /**
   * The size video is sent at changed (stepped down or up to follow the network, or the source
   * changed size); not emitted for the first frame's size.
   */
  videoDimensionsChanged: [
    event: { oldWidth: number; oldHeight: number; newWidth: number; newHeight: number },
  ];
  /** The path has been too narrow for video for a while: with `audioFallback`, video stops if it stays so. */
  videoDisableWarning: [];
  /** The path widened again before video stopped. */
  videoDisableWarningLifted: [];
  /** Video stopped and audio goes on (`quality`: the audio-only fallback; `publishVideo`: `publishVideo(false)`). */
  videoDisabled: [event: { reason: ReasonName }];
  /** Video goes out again (`quality`: the path is wide enough again; `publishVideo`: `publishVideo(true)`). */
  videoEnabled: [event: { reason: ReasonName }];
  /** Audio is silent (`publishAudio`: `publishAudio(false)`). */
  audioDisabled: [event: { reason: ReasonName }];
  /** Audio goes out again (`publishAudio`: `publishAudio(true)`). */
  audioEnabled: [event: { reason: ReasonName }];
}

/**
 * A publisher, created by `initPublisher`. Listeners run on the main thread; an exception a
 * listener throws is reported as an uncaught exception and does not disturb the publisher.
 * Once initialization has completed it no longer keeps the process alive (a session it is
 * published on does).
 */
export declare class Publisher extends EventEmitter {
  private constructor();
  readonly state: PublisherState;
  /** Unique in the process, never reused. */
  readonly id: number;
  getStats(): Promise<PublisherStats>;
  getStats(callback: (err: LibpublisherError | null, stats?: PublisherStats) => void): void;
  /**
   * Pushes one frame to a `'custom'` video source; converted to the publisher's resolution and
   * frame rate before it returns. Before publishing, frames are dropped except the latest,
   * from which publishing starts. Throws 1011 INVALID_PARAMETER for a wrong frame, 1015
   * ILLEGAL_STATE when the video source is not custom or the publisher is closed.
   */
  pushVideoFrame(frame: VideoFrameInit): void;
  /**
   * Pushes interleaved PCM to a `'custom'` audio source, resampled to 48 kHz and cut into
   * 10 ms frames; push in real time. Throws 1011 for wrong audio, 1015 when the audio source
   * is not custom or the publisher is closed.
   */
  pushAudioFrame(audio: AudioFrameInit): void;
  /**
   * Turns video off (`false`) or on again, before or while publishing: off, no video goes out
   * but the track stays (no renegotiation); on, it resumes with a keyframe. `videoDisabled` /
   * `videoEnabled` follow with reason `publishVideo` when it changes. Throws 1011 for a
   * non-boolean, 1015 ILLEGAL_STATE when the publisher failed, is closed or has no video.
   */
  publishVideo(on: boolean): void;
  /** Turns audio off (`false`: the track sends silence) or on again, as `publishVideo` does. */
  publishAudio(on: boolean): void;
  /**
   * Switches the video to `source` (a device id, 'synthetic', 'file:PATH', 'custom') while
   * ready or publishing, on the same track: consent is asked where `initPublisher` would ask,
   * the new source delivers its first frame, then replaces the old one. Rejects with 1500,
   * 1580, 1582, 1584, ... (the old source stays); throws at once 1011 for a wrong source
   * string, 1015 when not ready or publishing, without video, or while another switch is
   * under way.
   */
  /**
   * Switches the video to the next camera `getDevices()` lists (the first when the video is not
   * a camera), as `setVideoSource` does; resolves with the camera's id. Throws 1581 at once
   * when no camera is present.
   */
  cycleVideo(): Promise<{ deviceId: string }>;
  cycleVideo(callback: (err: LibpublisherError | null, result?: { deviceId: string }) => void): void;
  setVideoSource(source: string): Promise<void>;
  setVideoSource(source: string, callback: (err: LibpublisherError | null) => void): void;
  /**
   * Sends video at most at `resolution` ('WxH'), before or while publishing: a ceiling under
   * the source's size, under which the network adaptation still steps down; `videoDimensionsChanged`
   * follows when the sent size changes. Throws 1011 for a wrong resolution, 1015 when the
   * publisher failed or is closed.
   */
  setPreferredResolution(resolution: string): void;
  /**
   * The latest captured video frame as PNG bytes (RGB, at the captured size), for previews and
   * thumbnails. Rejects with 1015 when the publisher is not ready or publishing, has no video,
   * or captured no frame yet.
   */
  snapshot(): Promise<Buffer>;
  snapshot(callback: (err: LibpublisherError | null, png?: Buffer) => void): void;
  /** Sends video at most `frameRate` frames a second (1-60), as `setPreferredResolution` does for the size. */
  setPreferredFrameRate(frameRate: number): void;
  /** Switches the audio to `source`, as `setVideoSource` does for video. */
  setAudioSource(source: string): Promise<void>;
  setAudioSource(source: string, callback: (err: LibpublisherError | null) => void): void;
  /**
   * Stops the publisher and frees its sources; a stream it publishes ends (the session stays
   * connected). A pending `initPublisher` completes with 1015 ILLEGAL_STATE before it returns
   * (its callback runs, or its Promise rejects); afterwards no event or callback of this
   * publisher runs.
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

/** A frame for `Publisher.pushVideoFrame`. */
export interface VideoFrameInit {
  /**
   * Packed I420 (Y, U, V planes without padding: width*height*3/2 bytes) or RGBA rows
   * (width*height*4 bytes).
   */
  data: Uint8Array | ArrayBufferView | ArrayBuffer;
  width: number;
  /** Even sides for I420. */
  height: number;
  /** Default `'i420'`. */
  format?: 'i420' | 'rgba';
  /** Capture time in microseconds; absent (or not advancing): the time of the call. */
  timestampUs?: number;
}

/** Audio for `Publisher.pushAudioFrame`. */
export interface AudioFrameInit {
  /** Interleaved samples: Int16Array, Float32Array (full scale ±1), or a Buffer of int16. */
  samples: Int16Array | Float32Array | Uint8Array | ArrayBuffer;
  /** 8000 to 192000; default 48000. */
  sampleRate?: number;
  /** 1 (default) or 2. */
  channels?: number;
  /** Capture time of the first sample in microseconds; absent: the time of the call. */
  timestampUs?: number;
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
 *   `callback(null, publisher)`.
 * - Without: returns a Promise of the Publisher that rejects with the Error;
 *   `promise.publisher` gives the Publisher at once.
 *
 * Invalid options throw (1011) at once in both forms, as in every language. Until it
 * completes, the pending initialization keeps the process alive. If the publisher is closed
 * first, it completes with 1015 ILLEGAL_STATE before `close()` returns.
 */
export declare function initPublisher(options?: PublisherOptions | null): PendingPublisher;
export declare function initPublisher(
  options: PublisherOptions | null | undefined,
  callback: (this: Publisher, err: LibpublisherError | null, publisher?: Publisher) => void,
): Publisher;
export declare function initPublisher(
  callback: (this: Publisher, err: LibpublisherError | null, publisher?: Publisher) => void,
): Publisher;

export type SessionState = 'disconnected' | 'connecting' | 'connected' | 'disconnecting' | 'closed';

/**
 * Options of `initSession`, checked by the library (1011 INVALID_PARAMETER naming the key).
 * snake_case spellings are accepted too.
 */
export interface SessionOptions {
  /** How long `connect` may take, 1..600000 ms. Default 10000. */
  connectTimeoutMs?: number;
  /** How long the server may take to accept a stream, 1..600000 ms. Default 15000. */
  publishTimeoutMs?: number;
  /**
   * How long ICE and DTLS may take to find a path (gathering, then the checks once the server
   * answered), 1..600000 ms; then publish fails with 1553. Default 10000.
   */
  iceTimeoutMs?: number;
  /** STUN/TURN servers, tried before those a WHIP server advertises. */
  iceServers?: IceServer[] | null;
  /** `'relay'`: media only through a TURN server. Default `'all'`. */
  iceTransportPolicy?: IceTransportPolicy;
  /**
   * How long a published stream whose connection was lost keeps trying to recover (ICE going
   * on, ICE restarts), 1..600000 ms; the session emits `sessionReconnecting` meanwhile, then
   * the stream ends with `networkDisconnected`. Default 15000.
   */
  reconnectTimeoutMs?: number;
}

/** A STUN or TURN server, as in the browser's `RTCIceServer`. */
export interface IceServer {
  /**
   * `stun:HOST[:PORT]`, `turn:HOST[:PORT]` (UDP), `turn:HOST[:PORT]?transport=tcp`,
   * `turns:HOST[:PORT]` (TLS), or a list of them for one server.
   */
  urls: string | string[];
  /** TURN username (required with a TURN URL). */
  username?: string | null;
  /** TURN password (required with a TURN URL). */
  credential?: string | null;
}

/** Which candidates ICE may use. */
export type IceTransportPolicy = 'all' | 'relay';

/** What the receiver embedded in a `loopback://` session got from one publisher. */
export interface ReceiverStats {
  /** Complete video frames received. */
  videoFrames: number;
  /** Of which keyframes. */
  videoKeyframes: number;
  /** Whether the first video frame received was a keyframe (decodable on its own). */
  firstFrameWasKeyframe: boolean;
  videoBytes: number;
  audioPackets: number;
  audioBytes: number;
}

export interface SessionEventMap {
  /** `connect` succeeded (before its completion). */
  sessionConnected: [];
  /** The session ended: `clientDisconnected` after `disconnect()`, `networkDisconnected`, ... */
  sessionDisconnected: [event: { reason: ReasonName }];
  /** A published stream lost its connection; the session is trying to recover. */
  sessionReconnecting: [];
  /**
   * Every stream recovered, or the one that could not was destroyed (`networkDisconnected`)
   * while the server still answers: the session is usable. (When the server does not answer,
   * `sessionDisconnected` with `networkDisconnected` follows instead.)
   */
  sessionReconnected: [];
}

/** `cb(err)`: `null` on success. `this` is the session. */
export type SessionCallback = (this: Session, err: LibpublisherError | null) => void;

/**
 * A session, created by `initSession`. Listeners and callbacks run on the main thread, in the
 * order the library produced them, also relative to the publishers' events.
 *
 * `connect`, `publish`, `unpublish` and `disconnect` return a Promise without a callback, and
 * `undefined` with one. A call refused at once (1010 NOT_CONNECTED, 1011 INVALID_PARAMETER,
 * 1015 ILLEGAL_STATE) throws and never completes, as in every language (C returns the code,
 * Python raises); a call that started completes exactly once: the Promise settles or the
 * callback runs (never synchronously).
 *
 * From `connect()` until it is disconnected or closed, and while a call is pending, the session
 * keeps the process alive (as a connected socket does).
 */
export declare class Session extends EventEmitter {
  private constructor();
  readonly state: SessionState;
  /** Unique in the process, never reused. */
  readonly id: number;
  /** The URL it was made for. */
  readonly url: string;

  /** Connects (with `token` when the server wants one); completes after `sessionConnected`. 1015 if not disconnected. */
  connect(token?: string | null): Promise<void>;
  connect(token: string | null | undefined, callback: SessionCallback): void;
  connect(callback: SessionCallback): void;
  /**
   * Publishes a ready publisher. Completes when media flows; the publisher then emits
   * `streamCreated`. 1010 when not connected, 1015 when the publisher is not ready or already
   * published; 1541/1553/1590/1610/2001 from the server side.
   */
  publish(publisher: Publisher): Promise<void>;
  publish(publisher: Publisher, callback: SessionCallback): void;
  /** The publisher emits `streamDestroyed` (`clientDisconnected`), then this completes. 1010 when not connected, 1015 when not published here. */
  unpublish(publisher: Publisher): Promise<void>;
  unpublish(publisher: Publisher, callback: SessionCallback): void;
  /**
   * Every stream ends (`streamDestroyed`), then `sessionDisconnected` (`clientDisconnected`),
   * then this completes. Completes at once on a session that is not connected.
   */
  disconnect(): Promise<void>;
  disconnect(callback: SessionCallback): void;
  /** What the embedded receiver of a `loopback://` session got from `publisher`; null when it is not published here or the backend has no such receiver. */
  getReceiverStats(publisher: Publisher): ReceiverStats | null;
  /**
   * Stops everything at once; its streams end (their publishers emit `streamDestroyed`). When
   * it returns, no event or callback of this session runs any more; calls still pending
   * complete with 1015 ILLEGAL_STATE before it returns (callbacks run, Promises reject).
   * Idempotent; works from inside a listener.
   */
  close(): void;
  [Symbol.dispose](): void;

  on<K extends keyof SessionEventMap>(event: K, listener: (...args: SessionEventMap[K]) => void): this;
  once<K extends keyof SessionEventMap>(event: K, listener: (...args: SessionEventMap[K]) => void): this;
  off<K extends keyof SessionEventMap>(event: K, listener: (...args: SessionEventMap[K]) => void): this;
  addListener<K extends keyof SessionEventMap>(event: K, listener: (...args: SessionEventMap[K]) => void): this;
  removeListener<K extends keyof SessionEventMap>(event: K, listener: (...args: SessionEventMap[K]) => void): this;
  emit<K extends keyof SessionEventMap>(event: K, ...args: SessionEventMap[K]): boolean;
}

/**
 * Makes a session for `url`: `loopback://` (a receiver embedded in the library, over real
 * ICE/DTLS/SRTP on 127.0.0.1), `http(s)://` (WHIP) where the build supports it. Nothing touches
 * the network until `connect`. Throws 1005 INVALID_SESSION_ID for a malformed URL or unknown
 * scheme, 1011 INVALID_PARAMETER for bad options.
 */
export declare function initSession(url: string, options?: SessionOptions | null): Session;

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
