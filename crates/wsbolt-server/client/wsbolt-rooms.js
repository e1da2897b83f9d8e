// wsbolt-rooms.js: a browser client for the wsbolt.rooms.v1 protocol
// (docs/rooms-protocol.md). One ES module, no dependencies; `wsbolt serve`
// serves it at /wsbolt-rooms.js and its TypeScript declarations at
// /wsbolt-rooms.d.ts.
//
//   import { RoomsClient } from "/wsbolt-rooms.js";
//   const client = new RoomsClient(["wss://a.example/rooms", "wss://b.example/rooms"]);
//   const lobby = client.subscribe("lobby", { presence: true });
//   lobby.addEventListener("publication", (e) => show(e.detail.data));
//   lobby.addEventListener("notrecovered", () => reloadFromTheApp());
//   await lobby.publish({ text: "hi" });
//
// The client reconnects by itself (backoff with full jitter, rotating
// through the URLs), resubscribes every room with the last position it saw,
// and drops a publication it already has, so a room's listener sees each
// publication once and in order or hears `notrecovered`.

export const PROTOCOL = "wsbolt.rooms.v1";
const TOKEN_PREFIX = "bearer.";

/** A refused request: `code` is the protocol's error code. */
export class RoomsError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "RoomsError";
    this.code = code;
  }
}

const emit = (target, type, detail) => target.dispatchEvent(new CustomEvent(type, { detail }));

/** One room as the client follows it: its events and its requests. */
export class Room extends EventTarget {
  constructor(client, name, presence) {
    super();
    this.client = client;
    this.name = name;
    this.presenceEvents = presence;
    /** The last position seen (`null` before the first subscription). */
    this.offset = null;
    this.epoch = null;
    this.active = true;
  }

  /** Publishes `data` (any JSON value); resolves to `{ offset, epoch }`. */
  publish(data) {
    return this.client.request({ type: "publish", room: this.name, data }).then((r) => ({ offset: r.offset, epoch: r.epoch }));
  }

  /** The last `limit` publications the server keeps (oldest first). */
  history(limit) {
    return this.client.request({ type: "history", room: this.name, limit }).then((r) => r.publications);
  }

  /** Who is in the room: `[{ client, user }]`. */
  presence() {
    return this.client.request({ type: "presence", room: this.name }).then((r) => r.clients);
  }

  /** Stops following the room. */
  unsubscribe() {
    if (!this.active) return Promise.resolve();
    this.active = false;
    this.client.rooms.delete(this.name);
    if (!this.client.connected) return Promise.resolve();
    return this.client.request({ type: "unsubscribe", room: this.name }).then(() => {}, () => {});
  }

  // The server's answer to a (re)subscription.
  subscribed(m) {
    const resumed = this.epoch !== null;
    const recovered = !resumed || (m.recovered && m.epoch === this.epoch);
    if (!recovered) {
      // The history no longer reaches back: start again from the present.
      emit(this, "notrecovered", { offset: m.offset, epoch: m.epoch, previous: { offset: this.offset, epoch: this.epoch } });
    }
    if (!resumed || !recovered) {
      this.offset = m.offset;
      this.epoch = m.epoch;
    }
    emit(this, "subscribed", { offset: m.offset, epoch: m.epoch, recovered, missed: m.missed });
    if (resumed && recovered) emit(this, "recovered", { missed: m.missed });
  }

  // One publication, delivered unless already seen. One of another epoch
  // means the server lost the room's history (Redis restarted empty, say).
  publication(m) {
    if (m.epoch === this.epoch && m.offset <= this.offset) return;
    if (this.epoch !== null && m.epoch !== this.epoch) {
      emit(this, "notrecovered", { offset: m.offset - 1, epoch: m.epoch, previous: { offset: this.offset, epoch: this.epoch } });
    }
    this.offset = m.offset;
    this.epoch = m.epoch;
    emit(this, "publication", m);
  }
}

/**
 * A connection to one of `urls` that comes back by itself.
 *
 * Options: `token` (a string, or a function returning a token or a promise
 * of one: asked at each connect and when the server says the token
 * expired), `minDelay` / `maxDelay` (ms, 250 / 10000: the reconnect backoff),
 * `timeout` (ms, 10000: how long a request waits for its answer),
 * `WebSocket` (the constructor, for runtimes without a global one).
 */
export class RoomsClient extends EventTarget {
  constructor(urls, options = {}) {
    super();
    this.urls = Array.isArray(urls) ? urls.slice() : [urls];
    if (this.urls.length === 0) throw new TypeError("RoomsClient needs at least one URL");
    this.options = { minDelay: 250, maxDelay: 10000, timeout: 10000, ...options };
    this.WebSocket = this.options.WebSocket || globalThis.WebSocket;
    this.rooms = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.next = 0;
    this.ws = null;
    this.connected = false;
    this.closed = false;
    this.timer = null;
    /** `welcome`'s `client`, `user` and `limits` of the current connection. */
    this.session = null;
    this.connect();
  }

  /** Follows `room`; `presence: true` adds join/leave events. Returns its `Room`. */
  subscribe(name, { presence = false } = {}) {
    if (this.rooms.has(name)) return this.rooms.get(name);
    const room = new Room(this, name, presence);
    this.rooms.set(name, room);
    if (this.connected) this.resubscribe(room);
    return room;
  }

  /** Closes for good (no reconnect). */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.fail(new RoomsError("closed", "the client was closed"));
  }

  /** Sends one request; resolves to its reply, rejects with a RoomsError. */
  request(body) {
    if (!this.connected) return Promise.reject(new RoomsError("disconnected", "not connected"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RoomsError("timeout", `no answer to ${body.type} in ${this.options.timeout} ms`));
      }, this.options.timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...body, id }));
    });
  }

  async token() {
    const t = this.options.token;
    return typeof t === "function" ? await t() : t;
  }

  async connect() {
    if (this.closed) return;
    const url = this.urls[this.next % this.urls.length];
    this.next++;
    let token;
    try {
      token = await this.token();
    } catch (e) {
      emit(this, "error", { error: e });
      return this.retry();
    }
    if (this.closed) return;
    const protocols = token ? [PROTOCOL, TOKEN_PREFIX + token] : [PROTOCOL];
    let ws;
    try {
      ws = new this.WebSocket(url, protocols);
    } catch (e) {
      emit(this, "error", { error: e });
      return this.retry();
    }
    this.ws = ws;
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const was = this.connected;
      this.connected = false;
      this.fail(new RoomsError("disconnected", "the connection closed"));
      emit(this, "close", { url, code: e.code, reason: e.reason, reconnecting: !this.closed, wasOpen: was });
      this.retry();
    };
  }

  retry() {
    if (this.closed) return;
    // Full jitter: anywhere up to the capped exponential delay.
    const cap = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  // Rejects every request in flight.
  fail(error) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.pending.clear();
  }

  resubscribe(room) {
    const req = { type: "subscribe", room: room.name, presence: room.presenceEvents };
    if (room.epoch !== null) req.since = { offset: room.offset, epoch: room.epoch };
    this.request(req).then(
      (m) => room.subscribed(m),
      (e) => {
        if (e.code === "disconnected" || e.code === "closed") return;
        room.active = false;
        this.rooms.delete(room.name);
        emit(room, "error", { error: e });
      },
    );
  }

  receive(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m.id !== undefined && this.pending.has(m.id)) {
      const { resolve, reject, timer } = this.pending.get(m.id);
      this.pending.delete(m.id);
      clearTimeout(timer);
      if (m.type === "error") reject(new RoomsError(m.code, m.message));
      else resolve(m);
      return;
    }
    const room = m.room !== undefined ? this.rooms.get(m.room) : undefined;
    switch (m.type) {
      case "welcome":
        this.connected = true;
        this.attempt = 0;
        this.session = { client: m.client, user: m.user, limits: m.limits };
        emit(this, "open", { ...this.session, url: this.ws && this.ws.url });
        for (const r of this.rooms.values()) this.resubscribe(r);
        break;
      case "pub":
        if (room) room.publication(m);
        break;
      case "join":
      case "leave":
        if (room) emit(room, m.type, { client: m.client, user: m.user });
        break;
      case "unsubscribed":
        // The server ended it (a refreshed token no longer allows the room).
        if (room) {
          room.active = false;
          this.rooms.delete(m.room);
          emit(room, "unsubscribed", { reason: m.reason });
        }
        break;
      case "expired":
        emit(this, "expired", { grace: m.grace });
        this.refresh();
        break;
      case "error":
        emit(this, "error", { error: new RoomsError(m.code, m.message) });
        break;
    }
  }

  // Asks for a new token and hands it to the server.
  async refresh() {
    try {
      const token = await this.token();
      if (!token) return;
      const r = await this.request({ type: "refresh", token });
      emit(this, "refreshed", { expires: r.expires });
    } catch (e) {
      emit(this, "error", { error: e });
    }
  }
}
