import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  AnswerReader,
  type Http1Answer,
  Http1ConnectionPool,
  type Http1PoolOptions,
} from '../../../../lambdas/shared/adapters/http1-connections';

/** A self-signed certificate for localhost and 127.0.0.1 (valid until 2126), for these tests only. */
const TLS = {
  cert: readFileSync(join(__dirname, '../../../fixtures/tls/localhost.crt'), 'utf8'),
  key: readFileSync(join(__dirname, '../../../fixtures/tls/localhost.key'), 'utf8'),
};

const LIMITS: Http1PoolOptions = { maxSockets: 4, requestTimeoutMs: 5_000, connectionTimeoutMs: 5_000 };

/** Feeds `raw` to a reader in pieces of `size` characters; returns the answer it read, if any. */
function readInPieces(raw: string, size: number): { answer?: Http1Answer; closes: boolean } {
  const reader = new AnswerReader();
  let answer: Http1Answer | undefined;
  for (let at = 0; at < raw.length; at += size) {
    expect(answer).toBeUndefined();
    answer = reader.push(raw.slice(at, at + size));
  }
  return { answer, closes: reader.closes };
}

const head = (port: number, path = '/lake/key?x-id=CopyObject') =>
  `PUT ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 0\r\n\r\n`;

const listening = <S extends HttpServer | TcpServer>(server: S) =>
  new Promise<S>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
const portOf = (server: HttpServer | TcpServer) => (server.address() as AddressInfo).port;
const closed = (server: HttpServer | TcpServer) =>
  new Promise<void>((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });

describe('Class: AnswerReader', () => {
  const sized = 'HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 11\r\n\r\n<Result/>\r\n';

  it('reads an answer of content-length bytes, however its bytes are split', () => {
    for (const size of [1, 2, 7, sized.length])
      expect(readInPieces(sized, size)).toEqual({ answer: { status: 200, body: '<Result/>\r\n' }, closes: false });
  });

  it('reads a chunked answer with chunk extensions and trailers, however it is split', () => {
    // S3 keeps a long copy's connection open with whitespace before the result.
    const raw =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '3;ext=1\r\n   \r\n9\r\n<Result/>\r\n0\r\nx-amz-trailer: t\r\n\r\n';
    for (const size of [1, 5, raw.length])
      expect(readInPieces(raw, size)).toEqual({ answer: { status: 200, body: '   <Result/>' }, closes: true });
  });

  it('refuses what it does not read, so that the request goes another way', () => {
    const refusals: Array<[string, string]> = [
      ['HTTP/1.1 200 OK\r\nServer: x\r\n\r\n<Result/>', 'neither a length nor chunks'],
      ['HTTP/1.1 100 Continue\r\n\r\n', 'an informational answer (100)'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc', 'bytes after the end of an answer'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nHTTP', 'bytes after the end'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'a chunk of size "zz"'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'transfer coding gzip'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'content-length "2"'],
      ['HTTP/2 200\r\n\r\n', 'not HTTP/1.1'],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'a malformed header line'],
    ];
    for (const [raw, message] of refusals) expect(() => new AnswerReader().push(raw)).toThrow(message);
    expect(() => new AnswerReader().push(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)).toThrow('above 64 KiB');
  });
});

describe('Class: Http1ConnectionPool', () => {
  it('keeps at most maxSockets connections, the requests beyond waiting their turn, and reuses them', async () => {
    const sockets = new Set<Socket>();
    const server = await listening(
      createHttpServer((req, res) => {
        req.resume();
        setTimeout(() => res.end(`answer to ${req.url}`), 20);
      }),
    );
    server.on('connection', (s) => sockets.add(s));
    const pool = new Http1ConnectionPool({ protocol: 'http:', hostname: '127.0.0.1', port: portOf(server) }, LIMITS);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.send(head(portOf(server), `/${i}`))));
      expect(answers.map((a) => a.body)).toEqual(Array.from({ length: 20 }, (_, i) => `answer to /${i}`));
      expect(sockets.size).toBe(4);
      await pool.send(head(portOf(server)));
      expect(sockets.size).toBe(4);
    } finally {
      pool.destroy();
      await closed(server);
    }
  });

  it('opens a new connection after an answer that closes its own, or one idle for too long, or one the server closed', async () => {
    let connections = 0;
    let answered = 0;
    const server = await listening(
      createHttpServer((req, res) => {
        req.resume();
        answered++;
        // The second answer closes its connection; the others keep theirs.
        res.setHeader('connection', answered === 2 ? 'close' : 'keep-alive');
        res.end('ok');
      }),
    );
    server.on('connection', () => connections++);
    let now = 0;
    const pool = new Http1ConnectionPool(
      { protocol: 'http:', hostname: '127.0.0.1', port: portOf(server) },
      { ...LIMITS, now: () => now },
    );
    try {
      const send = () => pool.send(head(portOf(server)));
      await send();
      await send();
      expect(connections).toBe(1);
      await send(); // after the close
      expect(connections).toBe(2);
      now += 4_001; // idle beyond 4 s
      await send();
      expect(connections).toBe(3);
      server.closeAllConnections(); // the server drops an idle connection
      await new Promise((resolve) => setTimeout(resolve, 20));
      await expect(send()).resolves.toEqual({ status: 200, body: 'ok' });
      expect(connections).toBe(4);
    } finally {
      pool.destroy();
      await closed(server);
    }
  });

  it('gives up on a request with no answer, and on a connection that does not open, by their timeouts', async () => {
    // A server that takes connections and never answers; its sockets are closed at the end.
    const accepted: Socket[] = [];
    const silent = await listening(createTcpServer((socket) => accepted.push(socket)));
    const origin = { hostname: '127.0.0.1', port: portOf(silent) };
    const plain = new Http1ConnectionPool({ protocol: 'http:', ...origin }, { ...LIMITS, requestTimeoutMs: 100 });
    // TCP opens, the TLS handshake never ends.
    const tls = new Http1ConnectionPool({ protocol: 'https:', ...origin }, { ...LIMITS, connectionTimeoutMs: 100 });
    try {
      await expect(plain.send(head(origin.port))).rejects.toThrow('no answer within 100 ms');
      await expect(tls.send(head(origin.port))).rejects.toThrow('no connection within 100 ms');
      expect(plain.openConnections).toBe(0);
    } finally {
      plain.destroy();
      tls.destroy();
      for (const socket of accepted) socket.destroy();
      await closed(silent);
    }
  });

  it('fails the requests of an aborted signal, waiting or under way, and no other', async () => {
    const server = await listening(
      createHttpServer((req, res) => {
        req.resume();
        setTimeout(() => res.end('ok'), 50);
      }),
    );
    const pool = new Http1ConnectionPool(
      { protocol: 'http:', hostname: '127.0.0.1', port: portOf(server) },
      { ...LIMITS, maxSockets: 1 },
    );
    try {
      const abort = new AbortController();
      const kept = pool.send(head(portOf(server)));
      const underWay = pool.send(head(portOf(server)), abort.signal);
      const waiting = pool.send(head(portOf(server)), abort.signal);
      const failed = Promise.allSettled([underWay, waiting]);
      await new Promise((resolve) => setTimeout(resolve, 70));
      abort.abort();
      for (const outcome of await failed) expect(outcome).toMatchObject({ reason: { name: 'AbortError' } });
      await expect(kept).resolves.toEqual({ status: 200, body: 'ok' });
      await expect(pool.send(head(portOf(server)), abort.signal)).rejects.toMatchObject({ name: 'AbortError' });
      await expect(pool.send(head(portOf(server)))).resolves.toEqual({ status: 200, body: 'ok' });
    } finally {
      pool.destroy();
      await closed(server);
    }
  });

  it('speaks TLS with the certificate checked: a trusted one is answered, an unknown one refused', async () => {
    const server = await listening(
      createHttpsServer(TLS, (req, res) => {
        req.resume();
        res.end(`over ${req.socket.constructor.name}`);
      }),
    );
    const origin = { protocol: 'https:' as const, hostname: '127.0.0.1', port: portOf(server) };
    const trusting = new Http1ConnectionPool(origin, { ...LIMITS, tls: { ca: TLS.cert } });
    const strict = new Http1ConnectionPool(origin, LIMITS);
    try {
      await expect(trusting.send(head(origin.port))).resolves.toEqual({ status: 200, body: 'over TLSSocket' });
      await expect(strict.send(head(origin.port))).rejects.toThrow(/self[- ]signed certificate/);
    } finally {
      trusting.destroy();
      strict.destroy();
      await closed(server);
    }
  });
});
