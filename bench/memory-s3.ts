/**
 * A deliberately minimal, in-memory, S3-compatible server for the copy benchmark.
 *
 * Why it exists: s3rver spends about 3 ms of CPU on each CopyObject (fs-extra's copy with its chains of
 * stat calls, koa and its router, request logging), so on a small machine it saturates the cores before any
 * client does, and a benchmark on it compares the emulator with itself. This server keeps objects in memory,
 * shares the bytes of a copied object instead of duplicating them, and does next to nothing per request, so
 * that the clients, not the server, set the pace.
 *
 * What it speaks (path-style only, `http://host:port/<bucket>/<key>`):
 * CreateBucket, HeadBucket, GetBucketLocation, ListObjectsV2 (prefix, delimiter, start-after, max-keys,
 * continuation tokens, `encoding-type=url`), PutObject (plain or `aws-chunked` bodies), HeadObject, GetObject
 * (single byte range), GetObjectTagging (always empty), CopyObject (`x-amz-copy-source`, metadata directive
 * COPY or REPLACE, `x-amz-copy-source-if-match`), CreateMultipartUpload, UploadPart, UploadPartCopy (with
 * `x-amz-copy-source-range`), CompleteMultipartUpload, AbortMultipartUpload, DeleteObject. ETags are what S3
 * returns: the quoted MD5 of the bytes, or for a multipart object the MD5 of the parts' MD5s and `-<parts>`.
 *
 * What it does not do: signatures are not checked, `x-amz-expected-bucket-owner` and
 * `x-amz-source-expected-bucket-owner` are accepted and not compared with anything, there are no versions,
 * ACLs or policies, and keys are ordered by UTF-16 code units (the same as S3's UTF-8 byte order for keys
 * without characters above U+FFFF). Any other request gets `501 NotImplemented`, never a silent success.
 *
 * An optional fixed latency per request (`latencyMs`) stands in for the round trip to a real S3 endpoint,
 * the same for every client; or a model of real S3's timing ({@link S3Model}): latency drawn from a
 * distribution, copies that take longer the more they move, and 503 SlowDown past a prefix's write rate.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One stored object. `body` is never mutated, so a copy can share it. */
interface StoredObject {
  readonly body: Buffer;
  /** Quoted, as in the ETag header. */
  readonly etag: string;
  readonly lastModified: Date;
  /** Content-Type and the other stored system headers, plus `x-amz-meta-*` and SSE headers, lower-case. */
  readonly headers: Readonly<Record<string, string>>;
}

interface Bucket {
  readonly objects: Map<string, StoredObject>;
  /** Keys in order, rebuilt lazily after a new key arrives. */
  sorted: string[] | undefined;
}

interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly parts: Map<number, { body: Buffer; md5: Buffer }>;
}

/**
 * A model of real S3's timing, so that a benchmark on this server says something about a night on AWS:
 * - every request waits a latency drawn from a log-normal distribution (median and spread below);
 * - a copy (CopyObject, UploadPartCopy) also waits for its bytes at `copyMiBps`, so its time grows with size;
 * - writes (PUT, COPY, POST, DELETE) to one prefix (the key up to its last `/`) past `writesPerSecondPerPrefix`
 *   in any one-second window are answered `503 SlowDown`, as S3 answers a partitioned prefix asked for more.
 * Draws come from a seeded generator, so two runs with the same seed see the same latencies.
 */
export interface S3Model {
  /** Median latency of a request, in milliseconds. */
  readonly medianMs: number;
  /** Standard deviation of the latency's logarithm (0.35: p99 about 2.3× the median). */
  readonly sigma: number;
  /** Server-side copy rate of one request, in MiB/s. */
  readonly copyMiBps: number;
  /** Writes one prefix takes per second before answering 503 SlowDown. */
  readonly writesPerSecondPerPrefix: number;
  /** Seed of the latency draws. @default 1 */
  readonly seed?: number;
}

/** The model the latency benchmark uses by default (see docs/benchmarks.md for where each figure comes from). */
export const REAL_S3_MODEL: S3Model = {
  medianMs: 100,
  sigma: 0.35,
  copyMiBps: 100,
  writesPerSecondPerPrefix: 3500,
};

/** How to build a server. */
export interface MemoryS3Options {
  /** Wait this long before answering each request. @default 0 */
  readonly latencyMs?: number;
  /** Answer with real S3's timing (replaces `latencyMs`). */
  readonly model?: S3Model;
}

/** What the model did: requests delayed, and writes refused with SlowDown. */
export interface ModelCounters {
  requests: number;
  slowDowns: number;
  /** Sum of the latencies drawn, in milliseconds. */
  latencyMs: number;
}

/** mulberry32: a small seeded generator, good enough to draw latencies. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A listening server. */
export interface MemoryS3Handle {
  readonly endpoint: string;
  readonly port: number;
  readonly store: MemoryS3;
  close(): Promise<void>;
}

/** Headers S3 stores with an object and returns on GET and HEAD (besides `x-amz-meta-*`). */
const STORED_HEADERS = [
  'content-type',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-storage-class',
];
const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_KEYS = 1000;

/** An S3 error answer. */
class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

const xml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
const unxml = (s: string) =>
  s.replace(
    /&(quot|amp|lt|gt|apos|#34);/g,
    (_, e: string) => ({ quot: '"', amp: '&', lt: '<', gt: '>', apos: "'", '#34': '"' })[e] as string,
  );
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const quoted = (hex: string) => `"${hex}"`;
const unquoted = (etag: string) => etag.replace(/^"|"$/g, '');

/** Decodes an `aws-chunked` body (`<hex size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0\r\n` [trailers]). */
export function decodeAwsChunked(raw: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) throw new S3Error(400, 'IncompleteBody', 'aws-chunked body ends inside a chunk header');
    const size = parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0] as string, 16);
    if (!Number.isFinite(size))
      throw new S3Error(400, 'InvalidRequest', 'aws-chunked body has a malformed chunk header');
    if (size === 0) return Buffer.concat(chunks);
    chunks.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The store and the request handler, usable without a socket (tests call {@link MemoryS3.handle} through a server). */
export class MemoryS3 {
  private readonly buckets = new Map<string, Bucket>();
  private readonly uploads = new Map<string, Upload>();

  /** What the model did so far. */
  readonly counters: ModelCounters = { requests: 0, slowDowns: 0, latencyMs: 0 };
  private readonly random: () => number;
  /** Writes per prefix in the current one-second window. */
  private writes = new Map<string, number>();
  private window = 0;

  constructor(private readonly options: MemoryS3Options = {}) {
    this.random = seeded(options.model?.seed ?? 1);
  }

  /** A log-normal draw around the model's median (Box-Muller). */
  private latency(model: S3Model): number {
    const u = 1 - this.random();
    const v = this.random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return model.medianMs * Math.exp(model.sigma * z);
  }

  /** Bytes a copy request moves: the copy source's size, or its range's. */
  private copyBytes(req: IncomingMessage): number {
    const header = req.headers['x-amz-copy-source'];
    if (typeof header !== 'string') return 0;
    try {
      const range = req.headers['x-amz-copy-source-range'];
      const m = typeof range === 'string' ? /bytes=(\d+)-(\d+)/.exec(range) : null;
      if (m) return Number(m[2]) - Number(m[1]) + 1;
      return this.source(req, header).object.body.length;
    } catch {
      return 0;
    }
  }

  /** Counts a write against its prefix's rate; false when the prefix is past it in this second. */
  private admitWrite(req: IncomingMessage, model: S3Model): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.window) {
      this.window = second;
      this.writes = new Map();
    }
    const path = (req.url ?? '/').split('?')[0] as string;
    const prefix = path.slice(0, path.lastIndexOf('/') + 1);
    const n = (this.writes.get(prefix) ?? 0) + 1;
    this.writes.set(prefix, n);
    return n <= model.writesPerSecondPerPrefix;
  }

  /** Creates a bucket (no-op when it exists). */
  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, { objects: new Map(), sorted: undefined });
  }

  /** Stores objects directly, without HTTP, all sharing one body: the fast way to lay out a data set. */
  seed(bucket: string, keys: readonly string[], body: Buffer, contentType = 'application/octet-stream'): void {
    const b = this.bucket(bucket);
    const etag = quoted(md5(body).toString('hex'));
    const now = new Date();
    for (const key of keys)
      this.put(b, key, { body, etag, lastModified: now, headers: { 'content-type': contentType } });
  }

  /** Number of objects and bytes held in a bucket (bytes shared by copies count once per object). */
  usage(bucket: string): { objects: number; bytes: number } {
    let bytes = 0;
    const b = this.bucket(bucket);
    for (const o of b.objects.values()) bytes += o.body.length;
    return { objects: b.objects.size, bytes };
  }

  /** Answers one HTTP request. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const send = () => {
        try {
          this.route(req, parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts), res);
        } catch (e) {
          this.fail(req, res, e);
        }
      };
      const model = this.options.model;
      if (model) {
        this.counters.requests++;
        const method = req.method ?? 'GET';
        const write = method === 'PUT' || method === 'POST' || method === 'DELETE';
        const drawn = this.latency(model);
        this.counters.latencyMs += drawn;
        if (write && !this.admitWrite(req, model)) {
          this.counters.slowDowns++;
          setTimeout(
            () => this.fail(req, res, new S3Error(503, 'SlowDown', 'Please reduce your request rate.')),
            drawn,
          );
          return;
        }
        setTimeout(send, drawn + (this.copyBytes(req) / (model.copyMiBps * 1024 * 1024)) * 1000);
        return;
      }
      const latency = this.options.latencyMs ?? 0;
      if (latency > 0) setTimeout(send, latency);
      else send();
    });
  }

  private bucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw new S3Error(404, 'NoSuchBucket', `The specified bucket does not exist: ${name}`);
    return b;
  }

  private object(bucket: string, key: string): StoredObject {
    const o = this.bucket(bucket).objects.get(key);
    if (!o) throw new S3Error(404, 'NoSuchKey', `The specified key does not exist: ${key}`);
    return o;
  }

  private put(b: Bucket, key: string, o: StoredObject): void {
    if (!b.objects.has(key)) b.sorted = undefined;
    b.objects.set(key, o);
  }

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    const error = e instanceof S3Error ? e : new S3Error(500, 'InternalError', (e as Error)?.message ?? String(e));
    const body =
      req.method === 'HEAD'
        ? ''
        : `${XML_HEAD}<Error><Code>${error.code}</Code><Message>${xml(error.message)}</Message><Resource>${xml(req.url ?? '')}</Resource><RequestId>${randomUUID()}</RequestId></Error>`;
    res.writeHead(error.status, {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
      'x-amz-request-id': randomUUID(),
    });
    res.end(body);
  }

  private route(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    // The AWS SDK for JavaScript names the operation in `x-id`; it carries no meaning for the server.
    query.delete('x-id');
    const slash = path.indexOf('/', 1);
    const bucket = decodeURIComponent(slash < 0 ? path.slice(1) : path.slice(1, slash));
    const key = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
    const method = req.method ?? 'GET';
    if (!bucket) throw new S3Error(501, 'NotImplemented', 'ListBuckets is not implemented');
    if (!key) {
      if (method === 'PUT' && query.size === 0) return this.createBucketCall(bucket, res);
      if (method === 'HEAD') {
        this.bucket(bucket);
        this.reply(res, 200, '');
        return;
      }
      if (method === 'GET' && query.has('location')) {
        this.bucket(bucket);
        this.reply(res, 200, `${XML_HEAD}<LocationConstraint ${NS}></LocationConstraint>`);
        return;
      }
      if (method === 'GET' && query.get('list-type') === '2') return this.listV2(bucket, query, res);
      throw new S3Error(501, 'NotImplemented', `${method} ${path}?${query} is not implemented`);
    }
    const copySource = req.headers['x-amz-copy-source'] as string | undefined;
    switch (method) {
      case 'PUT':
        if (query.has('uploadId')) return this.uploadPart(bucket, key, query, req, body, copySource, res);
        if (query.size > 0) break;
        return copySource
          ? this.copyObject(bucket, key, req, copySource, res)
          : this.putObject(bucket, key, req, body, res);
      case 'HEAD':
        if (query.size > 0) break;
        return this.getObject(bucket, key, req, res, false);
      case 'GET':
        if (query.has('tagging')) {
          this.object(bucket, key);
          this.reply(res, 200, `${XML_HEAD}<Tagging ${NS}><TagSet></TagSet></Tagging>`);
          return;
        }
        if ([...query.keys()].some((k) => !k.startsWith('response-'))) break;
        return this.getObject(bucket, key, req, res, true);
      case 'POST':
        if (query.has('uploads')) return this.createUpload(bucket, key, req, res);
        if (query.has('uploadId')) return this.completeUpload(bucket, key, query.get('uploadId') as string, body, res);
        break;
      case 'DELETE':
        if (query.has('uploadId')) return this.abortUpload(query.get('uploadId') as string, res);
        if (query.size > 0) break;
        return this.deleteObject(bucket, key, res);
    }
    throw new S3Error(501, 'NotImplemented', `${method} ${path}?${query} is not implemented`);
  }

  private reply(
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string | number> = {},
  ): void {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.writeHead(status, {
      'x-amz-request-id': randomUUID(),
      ...(length > 0 && typeof body === 'string' ? { 'content-type': 'application/xml' } : {}),
      'content-length': length,
      ...headers,
    });
    res.end(body);
  }

  private createBucketCall(bucket: string, res: ServerResponse): void {
    this.createBucket(bucket);
    this.reply(res, 200, '', { location: `/${bucket}` });
  }

  /** Stored headers from a request: the system headers S3 keeps, `x-amz-meta-*` and SSE settings. */
  private storedHeaders(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = { 'content-type': 'binary/octet-stream' };
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value !== 'string') continue;
      if (STORED_HEADERS.includes(name) || name.startsWith('x-amz-meta-')) out[name] = value;
    }
    if (out['content-encoding']) {
      const rest = out['content-encoding']
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s && s !== 'aws-chunked');
      if (rest.length > 0) out['content-encoding'] = rest.join(',');
      else delete out['content-encoding'];
    }
    return out;
  }

  private payload(req: IncomingMessage, body: Buffer): Buffer {
    const chunked =
      String(req.headers['content-encoding'] ?? '').includes('aws-chunked') ||
      String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
    return chunked ? decodeAwsChunked(body) : body;
  }

  private putObject(bucket: string, key: string, req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    const b = this.bucket(bucket);
    const body = this.payload(req, raw);
    const digest = md5(body);
    const sent = req.headers['content-md5'];
    if (typeof sent === 'string' && sent !== digest.toString('base64'))
      throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    const o: StoredObject = {
      body,
      etag: quoted(digest.toString('hex')),
      lastModified: new Date(),
      headers: this.storedHeaders(req),
    };
    this.put(b, key, o);
    this.reply(res, 200, '', { etag: o.etag, ...this.sseHeaders(o.headers) });
  }

  private sseHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of ['x-amz-server-side-encryption', 'x-amz-server-side-encryption-aws-kms-key-id'])
      if (headers[name]) out[name] = headers[name] as string;
    return out;
  }

  private getObject(bucket: string, key: string, req: IncomingMessage, res: ServerResponse, withBody: boolean): void {
    const o = this.object(bucket, key);
    const size = o.body.length;
    const headers: Record<string, string | number> = {
      ...o.headers,
      etag: o.etag,
      'last-modified': o.lastModified.toUTCString(),
      'accept-ranges': 'bytes',
    };
    const range =
      withBody && typeof req.headers.range === 'string' ? /^bytes=(\d*)-(\d*)$/.exec(req.headers.range) : null;
    if (range && (range[1] || range[2])) {
      const first = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      const last = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (first >= size || first > last)
        throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
      return this.replyBytes(res, 206, o.body.subarray(first, last + 1), {
        ...headers,
        'content-range': `bytes ${first}-${last}/${size}`,
      });
    }
    if (!withBody) {
      res.writeHead(200, { 'x-amz-request-id': randomUUID(), ...headers, 'content-length': size });
      res.end();
      return;
    }
    this.replyBytes(res, 200, o.body, headers);
  }

  private replyBytes(
    res: ServerResponse,
    status: number,
    body: Buffer,
    headers: Record<string, string | number>,
  ): void {
    res.writeHead(status, { 'x-amz-request-id': randomUUID(), ...headers, 'content-length': body.length });
    res.end(body);
  }

  /** Parses `x-amz-copy-source` (`[/]bucket/key[?versionId=…]`, URL-encoded) and checks `x-amz-copy-source-if-match`. */
  private source(req: IncomingMessage, header: string): { bucket: string; key: string; object: StoredObject } {
    const raw = header.replace(/^\//, '').split('?')[0] as string;
    const decoded = decodeURIComponent(raw);
    const slash = decoded.indexOf('/');
    if (slash <= 0 || slash === decoded.length - 1)
      throw new S3Error(400, 'InvalidArgument', `Copy Source must mention the source bucket and key: ${header}`);
    const bucket = decoded.slice(0, slash);
    const key = decoded.slice(slash + 1);
    const object = this.object(bucket, key);
    const ifMatch = req.headers['x-amz-copy-source-if-match'];
    if (typeof ifMatch === 'string' && unquoted(ifMatch) !== unquoted(object.etag))
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    return { bucket, key, object };
  }

  private copyObject(bucket: string, key: string, req: IncomingMessage, header: string, res: ServerResponse): void {
    const b = this.bucket(bucket);
    const src = this.source(req, header);
    const replace = String(req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
    if (src.bucket === bucket && src.key === key && !replace) {
      throw new S3Error(
        400,
        'InvalidRequest',
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    }
    const sse = this.sseHeaders(this.storedHeaders(req));
    const headers = replace
      ? this.storedHeaders(req)
      : {
          ...Object.fromEntries(
            Object.entries(src.object.headers).filter(([n]) => !n.startsWith('x-amz-server-side-encryption')),
          ),
          ...sse,
        };
    const o: StoredObject = { body: src.object.body, etag: src.object.etag, lastModified: new Date(), headers };
    this.put(b, key, o);
    this.reply(
      res,
      200,
      `${XML_HEAD}<CopyObjectResult ${NS}><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag></CopyObjectResult>`,
      this.sseHeaders(o.headers),
    );
  }

  private createUpload(bucket: string, key: string, req: IncomingMessage, res: ServerResponse): void {
    this.bucket(bucket);
    const id = randomUUID();
    this.uploads.set(id, { bucket, key, headers: this.storedHeaders(req), parts: new Map() });
    this.reply(
      res,
      200,
      `${XML_HEAD}<InitiateMultipartUploadResult ${NS}><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
    );
  }

  private upload(bucket: string, key: string, id: string): Upload {
    const u = this.uploads.get(id);
    if (!u || u.bucket !== bucket || u.key !== key)
      throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
    return u;
  }

  private uploadPart(
    bucket: string,
    key: string,
    query: URLSearchParams,
    req: IncomingMessage,
    raw: Buffer,
    copySource: string | undefined,
    res: ServerResponse,
  ): void {
    const u = this.upload(bucket, key, query.get('uploadId') as string);
    const partNumber = Number(query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    if (!copySource) {
      const body = this.payload(req, raw);
      const digest = md5(body);
      u.parts.set(partNumber, { body, md5: digest });
      return this.reply(res, 200, '', { etag: quoted(digest.toString('hex')) });
    }
    const src = this.source(req, copySource);
    let body = src.object.body;
    const range = req.headers['x-amz-copy-source-range'];
    if (typeof range === 'string') {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!m || Number(m[2]) >= body.length || Number(m[1]) > Number(m[2]))
        throw new S3Error(
          400,
          'InvalidArgument',
          `The x-amz-copy-source-range value must be of the form bytes=first-last within the object: ${range}`,
        );
      body = body.subarray(Number(m[1]), Number(m[2]) + 1);
    }
    const digest = md5(body);
    u.parts.set(partNumber, { body, md5: digest });
    this.reply(
      res,
      200,
      `${XML_HEAD}<CopyPartResult ${NS}><LastModified>${new Date().toISOString()}</LastModified><ETag>${xml(quoted(digest.toString('hex')))}</ETag></CopyPartResult>`,
    );
  }

  private completeUpload(bucket: string, key: string, id: string, body: Buffer, res: ServerResponse): void {
    const u = this.upload(bucket, key, id);
    const text = body.toString('utf8');
    const listed = [...text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      partNumber: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1] as string)?.[1]),
      etag: unquoted(unxml(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1] as string)?.[1] ?? '').trim()),
    }));
    if (listed.length === 0)
      throw new S3Error(
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema',
      );
    const chosen = listed.map((p, i) => {
      if (i > 0 && p.partNumber <= (listed[i - 1] as { partNumber: number }).partNumber)
        throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
      const part = u.parts.get(p.partNumber);
      if (!part || part.md5.toString('hex') !== p.etag)
        throw new S3Error(400, 'InvalidPart', `Part ${p.partNumber} could not be found or its ETag does not match.`);
      if (i < listed.length - 1 && part.body.length < MIN_PART_BYTES)
        throw new S3Error(
          400,
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
        );
      return part;
    });
    const etag = quoted(`${md5(Buffer.concat(chosen.map((p) => p.md5))).toString('hex')}-${chosen.length}`);
    this.put(this.bucket(bucket), key, {
      body: Buffer.concat(chosen.map((p) => p.body)),
      etag,
      lastModified: new Date(),
      headers: u.headers,
    });
    this.uploads.delete(id);
    this.reply(
      res,
      200,
      `${XML_HEAD}<CompleteMultipartUploadResult ${NS}><Location>/${xml(bucket)}/${xml(key)}</Location><Bucket>${xml(bucket)}</Bucket><Key>${xml(key)}</Key><ETag>${xml(etag)}</ETag></CompleteMultipartUploadResult>`,
      this.sseHeaders(u.headers),
    );
  }

  private deleteObject(bucket: string, key: string, res: ServerResponse): void {
    const b = this.bucket(bucket);
    if (b.objects.delete(key)) b.sorted = undefined;
    this.reply(res, 204, '');
  }

  private abortUpload(id: string, res: ServerResponse): void {
    if (!this.uploads.delete(id)) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
    this.reply(res, 204, '');
  }

  private listV2(bucket: string, query: URLSearchParams, res: ServerResponse): void {
    const b = this.bucket(bucket);
    b.sorted ??= [...b.objects.keys()].sort();
    const keys = b.sorted;
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const startAfter = query.get('start-after') ?? '';
    const token = query.get('continuation-token');
    const requested = query.has('max-keys') ? Number(query.get('max-keys')) : MAX_KEYS;
    if (!Number.isInteger(requested) || requested < 0)
      throw new S3Error(400, 'InvalidArgument', 'max-keys must be a non-negative integer');
    const maxKeys = Math.min(requested, MAX_KEYS);
    let after = startAfter;
    if (token !== null) {
      after = Buffer.from(token, 'base64url').toString('utf8');
      if (!after) throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
    }
    // First key strictly after `after` and not before `prefix`.
    // biome-ignore lint/complexity/useMathMinMax: keys are strings; Math.max would compare numbers
    const floor = after >= prefix ? after : prefix;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid] as string;
      if (k < floor || (k === floor && floor === after && after !== '')) lo = mid + 1;
      else hi = mid;
    }
    const url = query.get('encoding-type') === 'url';
    const enc = (s: string) => xml(url ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
    const contents: string[] = [];
    const common: string[] = [];
    let last = '';
    let truncated = false;
    for (let i = lo; i < keys.length; i++) {
      const k = keys[i] as string;
      if (!k.startsWith(prefix)) break;
      if (contents.length + common.length >= maxKeys) {
        truncated = true;
        break;
      }
      const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) {
        const p = k.slice(0, cut + delimiter.length);
        common.push(p);
        last = p;
        // Skip every key under this common prefix.
        while (i + 1 < keys.length && (keys[i + 1] as string).startsWith(p)) i++;
        last = keys[i] as string;
        continue;
      }
      const o = b.objects.get(k) as StoredObject;
      contents.push(
        `<Contents><Key>${enc(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      last = k;
    }
    const body =
      `${XML_HEAD}<ListBucketResult ${NS}><Name>${xml(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>` +
      (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '') +
      (startAfter ? `<StartAfter>${enc(startAfter)}</StartAfter>` : '') +
      (token !== null ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '') +
      (url ? '<EncodingType>url</EncodingType>' : '') +
      `<KeyCount>${contents.length + common.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>` +
      (truncated
        ? `<NextContinuationToken>${Buffer.from(last, 'utf8').toString('base64url')}</NextContinuationToken>`
        : '') +
      contents.join('') +
      common.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('') +
      '</ListBucketResult>';
    this.reply(res, 200, body);
  }
}

/** Starts a server on 127.0.0.1 (port 0 unless given) with the given buckets. */
export async function startMemoryS3(
  buckets: readonly string[],
  options: MemoryS3Options & { port?: number } = {},
): Promise<MemoryS3Handle> {
  const store = new MemoryS3(options);
  for (const b of buckets) store.createBucket(b);
  const server: Server = createServer(
    { keepAliveTimeout: 60_000, headersTimeout: 65_000, requestTimeout: 0 },
    (req, res) => store.handle(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    store,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
