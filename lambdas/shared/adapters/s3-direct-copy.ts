/**
 * CopyObject as one signed HTTP request: the copy stage's hot path.
 *
 * Through the SDK, one CopyObject costs about 1.2 ms of CPU before any work of ours (the middleware stack,
 * endpoint and auth resolution per request, the signer's async hashing, XML parsing, and the promises all of
 * that allocates, each of which the X-Ray SDK's async hook then tracks). A copy of a small object is nothing
 * else, so that CPU, not S3's latency, sets the pace of a worker with a fraction of a vCPU. Here a CopyObject
 * is built and sent by hand, with what the SDK would send, from what the SDK resolves:
 * - the endpoint and signing scope come from the client's own endpoint resolution (`getEndpointFromInstructions`,
 *   the function the SDK's endpoint middleware calls), once per bucket, as the SDK's own endpoint cache does;
 * - credentials come from the client's credential provider (the standard chain, memoized and refreshed by the
 *   SDK), taken again five minutes before they expire as the SDK does; the region from the client's region, a
 *   custom endpoint from its configuration or AWS_ENDPOINT_URL;
 * - the request is signed with Signature Version 4 (node:crypto, the signing key kept for its day) and carries
 *   the headers the SDK sends for the same input. Tests compare the two requests header by header, recompute
 *   the signature with the SDK's own signer (`@smithy/signature-v4`), and sign the example request of AWS's
 *   S3 API reference to the signature AWS publishes for it;
 * - it goes over kept-alive HTTP/1.1 connections of this path's own (./http1-connections.ts), with TLS and
 *   certificate checks as Node's defaults have them, at half the CPU of `node:http` per request.
 *
 * Anything else goes through the SDK, whose answer is then the answer: an endpoint that is not plain SigV4 on
 * `s3` (Multi-Region Access Points, S3 Express), an input member this path does not write, and every answer
 * that is not a CopyObjectResult (an error, a 200 carrying an error, a broken connection, an answer the
 * connections do not read): the copy is sent
 * again through the SDK, which parses the error, retries as configured and throws what it always throws. After
 * a throttling or server error, every copy goes through the SDK for a minute, so that its adaptive retry, not
 * this path, sets the request rate while S3 asks for less.
 */
import { createHmac, hash } from 'node:crypto';
import {
  CopyObjectCommand,
  type CopyObjectCommandInput,
  type CopyObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { extendedEncodeURIComponent } from '@smithy/core/protocols';
import { Http1ConnectionPool, type Http1PoolOptions } from './http1-connections';

/** The input members this path writes, with the header each is sent in (the S3 model's `httpHeader` traits). */
const HEADER_OF = {
  CopySource: 'x-amz-copy-source',
  MetadataDirective: 'x-amz-metadata-directive',
  ExpectedBucketOwner: 'x-amz-expected-bucket-owner',
  ExpectedSourceBucketOwner: 'x-amz-source-expected-bucket-owner',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  ACL: 'x-amz-acl',
} as const satisfies Partial<Record<keyof CopyObjectCommandInput, string>>;

/** The members above with their headers, for the loop of every request. */
const HEADERS = Object.entries(HEADER_OF) as Array<[keyof typeof HEADER_OF, string]>;

/** What this path can send: Bucket, Key and the members above. */
export type DirectCopyInput = Pick<CopyObjectCommandInput, 'Bucket' | 'Key' | keyof typeof HEADER_OF>;

/** SHA-256 of an empty payload: a CopyObject has no body. */
const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** How long every copy goes through the SDK after S3 throttled or failed one. */
export const SDK_AFTER_THROTTLING_MS = 60_000;
/** The user agent of a direct request, so S3's logs tell it from the SDK's. */
const USER_AGENT = 'aurora-datalake-export/direct-copy-object';

/** Where and how requests for one bucket go, as the client's endpoint resolution decides. */
interface Route {
  readonly url: URL;
  /** Path of the bucket on the endpoint, without a trailing `/` (empty for virtual-hosted buckets). */
  readonly basePath: string;
  readonly signingRegion: string;
  readonly signingName: string;
}

/** Options of the path. */
export interface DirectCopyObjectOptions extends Omit<Http1PoolOptions, 'now'> {
  /** Open connections per endpoint, kept alive between requests. */
  readonly maxSockets: number;
  /** Longest one request may go without any byte from S3 before it is abandoned (and sent through the SDK). */
  readonly requestTimeoutMs: number;
  /** The clock, for the throttling window and the credentials' expiry. */
  readonly now?: () => number;
}

/** How many copies each path sent, and why some went through the SDK. */
export interface DirectCopyCounters {
  direct: number;
  sdk: number;
  /** Direct attempts that got something other than a CopyObjectResult and were sent again through the SDK. */
  fallbacks: number;
}

const sha256Hex = (text: string) => hash('sha256', text, 'hex');

/** `20261201T000000Z` from a time. */
function amzDate(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** Credentials are taken again from the client's provider this long before they expire, as the SDK does. */
const CREDENTIALS_REFRESH_MS = 5 * 60_000;

/** What a credential provider gives: the SDK's AwsCredentialIdentity. */
interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Signature Version 4 of one request without a payload, with the signing key kept per day and scope. */
export class SigV4 {
  private readonly keys = new Map<string, Buffer>();
  /** The last second signed for and its stamp: many requests are signed in each second. */
  private stampOf = { second: Number.NaN, stamp: '' };

  /**
   * Adds `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (temporary credentials) and
   * `authorization` to `headers` (lower-case names, `host` among them) and signs every header given.
   */
  sign(
    request: { method: string; path: string; query: string; headers: Record<string, string> },
    credentials: Credentials,
    scope: { region: string; service: string },
    nowMs: number,
  ): void {
    const h = request.headers;
    const second = Math.floor(nowMs / 1000);
    if (second !== this.stampOf.second) this.stampOf = { second, stamp: amzDate(nowMs) };
    const stamp = this.stampOf.stamp;
    const day = stamp.slice(0, 8);
    h['x-amz-date'] = stamp;
    h['x-amz-content-sha256'] = EMPTY_PAYLOAD_SHA256;
    if (credentials.sessionToken) h['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(h).sort();
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${(h[name] as string).trim().replace(/\s+/g, ' ')}\n`;
    const signedHeaders = names.join(';');
    const canonicalRequest = `${request.method}\n${request.path}\n${request.query}\n${canonicalHeaders}\n${signedHeaders}\n${EMPTY_PAYLOAD_SHA256}`;
    const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${stamp}\n${credentialScope}\n${sha256Hex(canonicalRequest)}`;
    const signature = createHmac('sha256', this.signingKey(credentials, day, scope))
      .update(stringToSign, 'utf8')
      .digest('hex');
    h.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }

  private signingKey(credentials: Credentials, day: string, scope: { region: string; service: string }): Buffer {
    const id = `${credentials.accessKeyId}\n${credentials.secretAccessKey}\n${day}\n${scope.region}\n${scope.service}`;
    let key = this.keys.get(id);
    if (!key) {
      const hmac = (k: string | Buffer, data: string) => createHmac('sha256', k).update(data, 'utf8').digest();
      key = hmac(
        hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), scope.region), scope.service),
        'aws4_request',
      );
      // Credentials rotate and days pass: a handful of keys at most are ever live.
      if (this.keys.size >= 8) this.keys.clear();
      this.keys.set(id, key);
    }
    return key;
  }
}

/** An answer that is not a CopyObjectResult. */
class NotCopied extends Error {
  constructor(
    message: string,
    /** S3 asked for less (503, SlowDown) or failed (5xx). */
    readonly throttledOrFailed: boolean,
  ) {
    super(message);
  }
}

/** The text of an XML element's content with S3's entities decoded. */
function unescapeXml(quoted: string): string {
  // An ETag comes as `&quot;…&quot;`: that one entity without a regular expression, any other with one.
  const text = quoted.replaceAll('&quot;', '"');
  if (!text.includes('&')) return text;
  return text.replace(/&(quot|amp|apos|lt|gt|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'quot':
        return '"';
      case 'amp':
        return '&';
      case 'apos':
        return "'";
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      default:
        return String.fromCodePoint(e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
    }
  });
}

/**
 * Sends CopyObject requests directly over kept-alive sockets, with the client's endpoint, credentials and
 * region; see the module's description for what goes through the SDK instead.
 */
export class DirectCopyObject {
  private readonly signer = new SigV4();
  private readonly routes = new Map<string, Promise<Route | undefined>>();
  /** The routes resolved so far, for the copies that follow without waiting on a promise. */
  private readonly resolvedRoutes = new Map<string, Route | undefined>();
  /** The client's credentials as last taken, until shortly before they expire. */
  private credentials: { value: Credentials; refreshAt: number } | undefined;
  private credentialsLoading: Promise<Credentials> | undefined;
  /** Kept-alive connections, by origin (`https://host:port`). */
  private readonly pools = new Map<string, Http1ConnectionPool>();
  private readonly now: () => number;
  private sdkUntil = 0;
  readonly counters: DirectCopyCounters = { direct: 0, sdk: 0, fallbacks: 0 };

  constructor(
    private readonly client: S3Client,
    private readonly options: DirectCopyObjectOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Copies one object as CopyObject does; the output has what the SDK's has for a direct copy: the ETag. */
  async send(
    input: DirectCopyInput,
    abortSignal?: AbortSignal,
  ): Promise<Pick<CopyObjectCommandOutput, 'CopyObjectResult'>> {
    abortSignal?.throwIfAborted();
    const bucket = input.Bucket as string;
    const route =
      this.now() >= this.sdkUntil && this.writable(input)
        ? this.resolvedRoutes.has(bucket)
          ? this.resolvedRoutes.get(bucket)
          : await this.route(bucket)
        : undefined;
    if (route) {
      try {
        const credentials =
          this.credentials && this.now() < this.credentials.refreshAt
            ? this.credentials.value
            : await this.loadCredentials();
        const etag = await this.sendDirect(route, input, credentials, abortSignal);
        this.counters.direct++;
        return { CopyObjectResult: { ETag: etag } };
      } catch (error) {
        if (abortSignal?.aborted) throw error;
        this.counters.fallbacks++;
        if (error instanceof NotCopied && error.throttledOrFailed) this.sdkUntil = this.now() + SDK_AFTER_THROTTLING_MS;
      }
    }
    this.counters.sdk++;
    return this.client.send(new CopyObjectCommand(input), { abortSignal });
  }

  /** Closes the kept-alive sockets. */
  destroy(): void {
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }

  /** Only the members this path writes, each a string. */
  private writable(input: DirectCopyInput): boolean {
    for (const member in input) {
      const value = input[member as keyof DirectCopyInput];
      if (value === undefined) continue;
      // A header value may not break its line: the SDK says what is wrong with such a value.
      if (typeof value !== 'string' || /[\r\n]/.test(value)) return false;
      if (member !== 'Bucket' && member !== 'Key' && !(member in HEADER_OF)) return false;
    }
    return typeof input.Bucket === 'string' && typeof input.Key === 'string' && typeof input.CopySource === 'string';
  }

  /** Takes the client's credentials from its provider (the standard chain, memoized and refreshed by the SDK). */
  private loadCredentials(): Promise<Credentials> {
    this.credentialsLoading ??= (this.client.config.credentials as () => Promise<Credentials>)()
      .then((value) => {
        const expires = value.expiration?.getTime();
        this.credentials = {
          value,
          refreshAt: expires === undefined ? Number.POSITIVE_INFINITY : expires - CREDENTIALS_REFRESH_MS,
        };
        return value;
      })
      .finally(() => {
        this.credentialsLoading = undefined;
      });
    return this.credentialsLoading;
  }

  private route(bucket: string): Promise<Route | undefined> {
    let route = this.routes.get(bucket);
    if (!route) {
      route = this.resolve(bucket).then((resolved) => {
        this.resolvedRoutes.set(bucket, resolved);
        return resolved;
      });
      this.routes.set(bucket, route);
    }
    return route;
  }

  /** The SDK's endpoint for CopyObject into `bucket`; undefined when it is not plain SigV4 on `s3`. */
  private async resolve(bucket: string): Promise<Route | undefined> {
    try {
      const endpoint = await getEndpointFromInstructions(
        { Bucket: bucket, Key: 'key', CopySource: 'bucket/key' },
        CopyObjectCommand as never,
        this.client.config as never,
      );
      const props = endpoint.properties as
        | { backend?: string; authSchemes?: Array<{ name?: string; signingName?: string; signingRegion?: string }> }
        | undefined;
      const auth = props?.authSchemes?.[0];
      if (props?.backend || auth?.name !== 'sigv4' || auth.signingName !== 's3' || !auth.signingRegion)
        return undefined;
      if (endpoint.url.search || (endpoint.url.protocol !== 'https:' && endpoint.url.protocol !== 'http:'))
        return undefined;
      const path = endpoint.url.pathname;
      return {
        url: endpoint.url,
        basePath: path.endsWith('/') ? path.slice(0, -1) : path,
        signingRegion: auth.signingRegion,
        signingName: auth.signingName,
      };
    } catch {
      // The SDK will say what is wrong with the bucket when it is asked to copy into it.
      return undefined;
    }
  }

  private async sendDirect(
    route: Route,
    input: DirectCopyInput,
    credentials: Credentials,
    abortSignal?: AbortSignal,
  ): Promise<string> {
    const path = `${route.basePath}/${(input.Key as string).split('/').map(extendedEncodeURIComponent).join('/')}`;
    const query = 'x-id=CopyObject';
    const headers: Record<string, string> = { host: route.url.host };
    for (const [member, header] of HEADERS) {
      const value = input[member];
      if (value !== undefined) headers[header] = value;
    }
    const offset = (this.client.config as { systemClockOffset?: number }).systemClockOffset ?? 0;
    this.signer.sign(
      { method: 'PUT', path, query, headers },
      credentials,
      { region: route.signingRegion, service: route.signingName },
      Date.now() + offset,
    );
    headers['content-length'] = '0';
    headers['user-agent'] = USER_AGENT;
    const { status, body } = await this.exchange(route, `${path}?${query}`, headers, abortSignal);
    if (status === 200 && !body.includes('<Error>')) {
      const result = /<CopyObjectResult[\s>][\s\S]*?<ETag>([\s\S]*?)<\/ETag>/.exec(body);
      if (result) return unescapeXml(result[1] as string);
    }
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? '';
    throw new NotCopied(
      `CopyObject answered ${status}${code ? ` ${code}` : ''}`,
      status >= 500 || status === 429 || /SlowDown|Throttl|InternalError|ServiceUnavailable/.test(code),
    );
  }

  /** Sends the request head on a kept-alive connection to the route's origin and reads the answer. */
  private exchange(
    route: Route,
    pathAndQuery: string,
    headers: Record<string, string>,
    abortSignal?: AbortSignal,
  ): Promise<{ status: number; body: string }> {
    const origin = route.url.origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      const https = route.url.protocol === 'https:';
      pool = new Http1ConnectionPool(
        {
          protocol: https ? 'https:' : 'http:',
          hostname: route.url.hostname.replace(/^\[|\]$/g, ''),
          port: Number(route.url.port || (https ? 443 : 80)),
        },
        { ...this.options, now: undefined },
      );
      this.pools.set(origin, pool);
    }
    let head = `PUT ${pathAndQuery} HTTP/1.1\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    return pool.send(`${head}\r\n`, abortSignal);
  }
}
