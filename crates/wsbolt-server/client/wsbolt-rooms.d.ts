// TypeScript declarations for wsbolt-rooms.js (the wsbolt.rooms.v1 client).

export declare const PROTOCOL: "wsbolt.rooms.v1";

/** A position in a room's history. */
export interface Position {
  offset: number;
  epoch: string;
}

/** A publication as delivered. */
export interface Publication extends Position {
  type: "pub";
  room: string;
  /** The publisher's user (the token's `sub`), when tokens are on. */
  user?: string | null;
  data: unknown;
}

export interface Member {
  client: string;
  user: string | null;
}

export interface Session {
  client: string;
  user: string | null;
  limits: { subscriptions: number; history: number };
}

/** A refused request; `code` is one of the protocol's error codes, or
 * `disconnected`, `timeout`, `closed` from the client itself. */
export declare class RoomsError extends Error {
  readonly code: string;
}

export interface RoomEventMap {
  publication: CustomEvent<Publication>;
  subscribed: CustomEvent<Position & { recovered: boolean; missed: number }>;
  /** A resubscription got everything missed while away. */
  recovered: CustomEvent<{ missed: number }>;
  /** What was missed cannot be had (a resubscription the history no longer covers, or a publication of a new epoch after the server lost the room): reload from the application. */
  notrecovered: CustomEvent<Position & { previous: Position }>;
  join: CustomEvent<Member>;
  leave: CustomEvent<Member>;
  unsubscribed: CustomEvent<{ reason: string }>;
  error: CustomEvent<{ error: RoomsError }>;
}

export declare class Room extends EventTarget {
  readonly name: string;
  /** The last position seen; null before the first subscription. */
  readonly offset: number | null;
  readonly epoch: string | null;
  publish(data: unknown): Promise<Position>;
  history(limit?: number): Promise<Publication[]>;
  presence(): Promise<Member[]>;
  unsubscribe(): Promise<void>;
  addEventListener<K extends keyof RoomEventMap>(type: K, listener: (ev: RoomEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

export interface RoomsClientOptions {
  /** A token, or a function giving one; asked at each connect and when it expires. */
  token?: string | (() => string | null | undefined | Promise<string | null | undefined>);
  /** Reconnect backoff bounds in ms (defaults 250 and 10000). */
  minDelay?: number;
  maxDelay?: number;
  /** How long a request waits for its answer, in ms (default 10000). */
  timeout?: number;
  /** The WebSocket constructor, for runtimes without a global one. */
  WebSocket?: typeof WebSocket;
}

export interface RoomsClientEventMap {
  open: CustomEvent<Session & { url: string }>;
  close: CustomEvent<{ url: string; code: number; reason: string; reconnecting: boolean; wasOpen: boolean }>;
  expired: CustomEvent<{ grace: number }>;
  refreshed: CustomEvent<{ expires: number }>;
  error: CustomEvent<{ error: unknown }>;
}

export declare class RoomsClient extends EventTarget {
  constructor(urls: string | string[], options?: RoomsClientOptions);
  readonly connected: boolean;
  /** The current connection's welcome, or null. */
  readonly session: Session | null;
  subscribe(room: string, options?: { presence?: boolean }): Room;
  close(): void;
  addEventListener<K extends keyof RoomsClientEventMap>(type: K, listener: (ev: RoomsClientEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}
