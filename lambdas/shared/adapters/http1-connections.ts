/**
 * Kept-alive HTTP/1.1 connections to one origin, for one shape of exchange: a request without a body, and a small
 * answer read whole (a length or chunks, as RFC 9112 frames a message). The direct CopyObject path sends its
 * requests here instead of through `node:http`, whose request and response objects, streams and agent
 * bookkeeping cost more CPU than the rest of a copy of a small object.
 *
 * What it does not do it refuses, and the caller then sends the request another way: an answer that is
 * neither sized nor chunked, an informational (1xx) answer, bytes after the end of an answer, a header section
 * above 64 KiB. One request at a time per connection (no pipelining); at most `maxSockets` connections, the
 * requests beyond waiting their turn; a connection idle for 4 s is closed rather than reused, before the server
 * closes it first. Timeouts (no connection, no byte for too long) are checked by one timer, not one per request.
 */
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/** Where the connections go. */
export interface Http1Origin {
  readonly protocol: 'http:' | 'https:';
  /** Host name or address, without the brackets of an IPv6 literal. */
  readonly hostname: string;
  readonly port: number;
}

/** Limits of a pool. */
export interface Http1PoolOptions {
  readonly maxSockets: number;
  /** Longest a request may go without any byte of its answer before it is abandoned. */
  readonly requestTimeoutMs: number;
  /** Longest a new connection may take to open. */
  readonly connectionTimeoutMs: number;
  /** Connections idle for longer are closed instead of reused. @default 4000 */
  readonly idleMs?: number;
  /** TLS options beside the defaults (certificate checks on), such as a private CA. */
  readonly tls?: Pick<ConnectionOptions, 'ca'>;
  /** The clock. */
  readonly now?: () => number;
}

/** An answer, its body as Latin-1 text (one character per byte). */
export interface Http1Answer {
  readonly status: number;
  readonly body: string;
}

/** Largest header section read. */
const MAX_HEAD_CHARS = 64 * 1024;

/**
 * Reads one answer as its bytes arrive (as Latin-1 text): the status line and headers, then a body of
 * `content-length` bytes or in chunks. Throws on anything it does not read.
 */
export class AnswerReader {
  private text = '';
  private bodyStart = -1;
  private status = 0;
  private length: number | undefined;
  private chunked = false;
  /** The server closes the connection after this answer. */
  closes = false;

  /** Adds what arrived; returns the answer once it is whole. */
  push(chunk: string): Http1Answer | undefined {
    this.text += chunk;
    if (this.bodyStart < 0) {
      const end = this.text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.text.length > MAX_HEAD_CHARS) throw new Error('an answer with a header section above 64 KiB');
        return undefined;
      }
      this.readHead(this.text.slice(0, end));
      this.bodyStart = end + 4;
    }
    const body = this.text.slice(this.bodyStart);
    const whole = this.chunked ? dechunk(body) : this.sized(body);
    return whole === undefined ? undefined : { status: this.status, body: whole };
  }

  private readHead(head: string): void {
    const [statusLine = '', ...lines] = head.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
    if (!status) throw new Error(`an answer that is not HTTP/1.1: ${JSON.stringify(statusLine.slice(0, 40))}`);
    this.status = Number(status[1]);
    if (this.status < 200) throw new Error(`an informational answer (${this.status})`);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`a malformed header line: ${JSON.stringify(line.slice(0, 40))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value) || (this.length !== undefined && this.length !== Number(value)))
          throw new Error(`an answer with content-length ${JSON.stringify(value)}`);
        this.length = Number(value);
      } else if (name === 'transfer-encoding') {
        const codings = value.toLowerCase().split(',');
        if (codings.at(-1)?.trim() !== 'chunked') throw new Error(`an answer in transfer coding ${value}`);
        this.chunked = true;
      } else if (name === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(value)) {
        this.closes = true;
      }
    }
    if (this.chunked) this.length = undefined;
    else if (this.length === undefined) throw new Error('an answer with neither a length nor chunks');
  }

  private sized(body: string): string | undefined {
    const length = this.length as number;
    if (body.length < length) return undefined;
    if (body.length > length) throw new Error('bytes after the end of an answer');
    return body;
  }
}

/** The body of a chunked message once its last chunk and trailer section are in; undefined before. */
function dechunk(text: string): string | undefined {
  let body = '';
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const sizeText = (text.slice(at, lineEnd).split(';')[0] as string).trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Error(`a chunk of size ${JSON.stringify(sizeText)}`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailer lines, then an empty line.
      for (;;) {
        const end = text.indexOf('\r\n', at);
        if (end < 0) return undefined;
        if (end === at) {
          if (end + 2 !== text.length) throw new Error('bytes after the end of an answer');
          return body;
        }
        at = end + 2;
      }
    }
    if (text.length < at + size + 2) return undefined;
    if (text.slice(at + size, at + size + 2) !== '\r\n') throw new Error('a chunk longer than its size');
    body += text.slice(at, at + size);
    at += size + 2;
  }
}

/** One request on its way or waiting for a connection. */
interface Exchange {
  readonly head: string;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (answer: Http1Answer) => void;
  readonly reject: (error: unknown) => void;
}

/** A connection and the exchange it carries, if any. */
interface Connection {
  readonly socket: Socket;
  readonly openedAt: number;
  connected: boolean;
  current: { exchange: Exchange; reader: AnswerReader; lastByteAt: number } | undefined;
  idleSince: number;
  closed: boolean;
}

/** Kept-alive HTTP/1.1 connections to one origin; see the module's description. */
export class Http1ConnectionPool {
  private readonly connections = new Set<Connection>();
  private readonly idle: Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private readonly signals = new WeakSet<AbortSignal>();
  private readonly now: () => number;
  private readonly idleMs: number;
  private sweep: ReturnType<typeof setInterval> | undefined;
  /** Connections carrying an exchange now. */
  private underWay = 0;
  private destroyed = false;

  constructor(
    private readonly origin: Http1Origin,
    private readonly options: Http1PoolOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.idleMs = options.idleMs ?? 4000;
  }

  /** Sends `head` (request line, headers and the empty line, as Latin-1 text) and reads the answer. */
  send(head: string, signal?: AbortSignal): Promise<Http1Answer> {
    if (this.destroyed) return Promise.reject(new Error('the connection pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const exchange: Exchange = { head, signal, resolve, reject };
      if (signal) this.watch(signal);
      this.waiting.push(exchange);
      this.pump();
    });
  }

  /** Closes every connection; requests under way fail. */
  destroy(): void {
    this.destroyed = true;
    for (const exchange of this.waiting.splice(0)) exchange.reject(new Error('the connection pool is closed'));
    for (const c of this.connections) c.socket.destroy(new Error('the connection pool is closed'));
    this.stopSweep();
  }

  /** Connections open now (for tests and figures). */
  get openConnections(): number {
    return this.connections.size;
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const connection = this.takeIdle() ?? (this.connections.size < this.options.maxSockets ? this.open() : undefined);
      if (!connection) return;
      this.start(connection, this.waiting.shift() as Exchange);
    }
  }

  private takeIdle(): Connection | undefined {
    const now = this.now();
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.closed) continue;
      if (now - c.idleSince > this.idleMs) {
        c.socket.destroy();
        continue;
      }
      return c;
    }
    return undefined;
  }

  private open(): Connection {
    const { hostname: host, port } = this.origin;
    const socket =
      this.origin.protocol === 'https:'
        ? tlsConnect({
            host,
            port,
            servername: isIP(host) ? undefined : host,
            ALPNProtocols: ['http/1.1'],
            ...this.options.tls,
          })
        : new Socket().connect({ host, port });
    const c: Connection = {
      socket,
      openedAt: this.now(),
      connected: false,
      current: undefined,
      idleSince: 0,
      closed: false,
    };
    this.connections.add(c);
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.once(this.origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      c.connected = true;
    });
    socket.on('data', (chunk: string) => this.received(c, chunk));
    socket.on('error', (error) => this.fail(c, error));
    socket.on('close', () => {
      c.closed = true;
      this.connections.delete(c);
      this.fail(c, new Error('the connection closed before the answer ended'));
      this.pump();
    });
    return c;
  }

  private start(c: Connection, exchange: Exchange): void {
    if (exchange.signal?.aborted) {
      exchange.reject(exchange.signal.reason);
      this.release(c);
      return;
    }
    c.current = { exchange, reader: new AnswerReader(), lastByteAt: this.now() };
    this.underWay++;
    this.startSweep();
    c.socket.write(exchange.head, 'latin1');
  }

  private received(c: Connection, chunk: string): void {
    const current = c.current;
    if (!current) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      c.socket.destroy();
      return;
    }
    current.lastByteAt = this.now();
    let answer: Http1Answer | undefined;
    try {
      answer = current.reader.push(chunk);
    } catch (error) {
      this.fail(c, error);
      return;
    }
    if (!answer) return;
    c.current = undefined;
    this.underWay--;
    current.exchange.resolve(answer);
    if (current.reader.closes) c.socket.destroy();
    else this.release(c);
  }

  /** Fails the connection's exchange, if any, and closes the connection. */
  private fail(c: Connection, error: unknown): void {
    const current = c.current;
    c.current = undefined;
    if (current) {
      this.underWay--;
      current.exchange.reject(error);
    }
    if (!c.closed) c.socket.destroy();
    if (this.underWay === 0 && this.waiting.length === 0) this.stopSweep();
  }

  private release(c: Connection): void {
    if (c.closed) return;
    c.idleSince = this.now();
    this.idle.push(c);
    this.pump();
    if (this.underWay === 0 && this.waiting.length === 0) this.stopSweep();
  }

  /** One listener per signal: when it aborts, its requests fail, waiting or under way. */
  private watch(signal: AbortSignal): void {
    if (this.signals.has(signal)) return;
    this.signals.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        for (let i = this.waiting.length - 1; i >= 0; i--) {
          const exchange = this.waiting[i] as Exchange;
          if (exchange.signal !== signal) continue;
          this.waiting.splice(i, 1);
          exchange.reject(signal.reason);
        }
        for (const c of this.connections) if (c.current?.exchange.signal === signal) this.fail(c, signal.reason);
      },
      { once: true },
    );
  }

  /** One timer checks every connection under way while any is. */
  private startSweep(): void {
    if (this.sweep) return;
    const { requestTimeoutMs, connectionTimeoutMs } = this.options;
    const every = Math.max(10, Math.min(1000, requestTimeoutMs / 4, connectionTimeoutMs / 4));
    this.sweep = setInterval(() => {
      const now = this.now();
      for (const c of this.connections) {
        if (!c.current) continue;
        if (!c.connected && now - c.openedAt > connectionTimeoutMs)
          this.fail(c, new Error(`no connection within ${connectionTimeoutMs} ms`));
        else if (now - c.current.lastByteAt > requestTimeoutMs)
          this.fail(c, new Error(`no answer within ${requestTimeoutMs} ms`));
      }
    }, every);
    this.sweep.unref?.();
  }

  private stopSweep(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
  }
}
