import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CopyObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { createCopyS3Client, createDirectCopy } from '../../../../lambdas/shared/adapters/s3-copy';
import {
  DirectCopyObject,
  type DirectCopyInput,
  type DirectCopyObjectOptions,
  SDK_AFTER_THROTTLING_MS,
  SigV4,
} from '../../../../lambdas/shared/adapters/s3-direct-copy';

const SOURCE_OWNER = '123456789012';
const DEST_OWNER = '210987654321';
const KMS_KEY = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';
const COPY_RESULT =
  '<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-12-01T00:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>';
const errorBody = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} here</Message><RequestId>R1</RequestId></Error>`;

/** One request as the server saw it. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** An HTTP server that records every request and answers with what `answer` says (a CopyObjectResult by default). */
async function recordingServer(
  answer: (seen: Seen, n: number) => { status: number; body: string } | 'hang' | 'cut' = () => ({
    status: 200,
    body: COPY_RESULT,
  }),
): Promise<{ endpoint: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(s);
    req.resume();
    req.on('end', () => {
      const a = answer(s, seen.length);
      if (a === 'hang') return;
      if (a === 'cut') {
        // A 200 whose body stops part-way: S3 keeps a long copy's connection open with whitespace until the end.
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.write('<?xml version="1.0" encoding="UTF-8"?>\n      ');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.writeHead(a.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'R1' });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

function clientFor(endpoint: string, overrides: ConstructorParameters<typeof S3Client>[0] = {}): S3Client {
  return createCopyS3Client({
    region: 'eu-west-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars=' },
    maxAttempts: 1,
    ...overrides,
  });
}

/** Runs `test` with the direct path over a client for `endpoint` (the copy client's limits, or `limits`), and closes both. */
async function withDirect(
  endpoint: string,
  test: (direct: DirectCopyObject, client: S3Client) => Promise<void>,
  limits?: DirectCopyObjectOptions,
): Promise<void> {
  const client = clientFor(endpoint);
  const direct = limits ? new DirectCopyObject(client, limits) : createDirectCopy(client);
  try {
    await test(direct, client);
  } finally {
    direct.destroy();
    client.destroy();
  }
}

const input = (over: Partial<DirectCopyInput> = {}): DirectCopyInput => ({
  Bucket: 'lake',
  Key: "lake/shop/dt=2026-12-01/it's (1)*!~+ é.parquet",
  CopySource: 'exports/run/task/shop/part%20one.parquet',
  ExpectedSourceBucketOwner: SOURCE_OWNER,
  ExpectedBucketOwner: DEST_OWNER,
  MetadataDirective: 'COPY',
  ServerSideEncryption: 'aws:kms',
  SSEKMSKeyId: KMS_KEY,
  ACL: 'bucket-owner-full-control',
  ...over,
});

/** The headers a request was signed with, as `SignedHeaders=` lists them. */
const signedHeaders = (seen: Seen) =>
  (/SignedHeaders=([^,]+)/.exec(String(seen.headers.authorization))?.[1] ?? '').split(';');

/** Headers the SDK adds to every request for its own bookkeeping; nothing S3 acts on. */
const SDK_BOOKKEEPING = new Set(['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent', 'user-agent']);

describe('Class: DirectCopyObject', () => {
  describe('the request it sends', () => {
    it('is the request the SDK sends for the same input: method, path, query and every header S3 reads', async () => {
      const { endpoint, seen, server } = await recordingServer();
      try {
        await withDirect(endpoint, async (direct, client) => {
          await client.send(new CopyObjectCommand(input()));
          const out = await direct.send(input());
          expect(out.CopyObjectResult?.ETag).toBe('"9b2cf535f27731c974343645a3985328"');
          const [sdk, ours] = seen as [Seen, Seen];
          expect(ours.method).toBe(sdk.method);
          expect(ours.url).toBe(sdk.url);
          const meaningful = (s: Seen) =>
            Object.fromEntries(
              Object.entries(s.headers).filter(
                ([k]) => !SDK_BOOKKEEPING.has(k) && !['authorization', 'x-amz-date', 'connection'].includes(k),
              ),
            );
          expect(meaningful(ours)).toEqual(meaningful(sdk));
          expect(signedHeaders(ours)).toEqual(signedHeaders(sdk).filter((h) => !SDK_BOOKKEEPING.has(h)));
          expect(ours.headers['x-amz-security-token']).toBe('token/with+chars=');
          expect(direct.counters).toEqual({ direct: 1, sdk: 0, fallbacks: 0 });
        });
      } finally {
        await close(server);
      }
    });

    it('carries the signature the SDK signer computes for the same request', async () => {
      const { endpoint, seen, server } = await recordingServer();
      try {
        await withDirect(endpoint, async (direct) => {
          await direct.send(input());
          const ours = seen[0] as Seen;
          const [path, query] = ours.url.split('?') as [string, string];
          const headers = Object.fromEntries(signedHeaders(ours).map((h) => [h, String(ours.headers[h])]));
          const stamp = String(ours.headers['x-amz-date']);
          const date = new Date(
            `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`,
          );
          const signer = new SignatureV4({
            service: 's3',
            region: 'eu-west-1',
            credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars=' },
            // The SDK's hash interface: a hash, or an HMAC when constructed with a secret.
            sha256: class {
              private readonly h: Hash | Hmac;
              constructor(secret?: string | Uint8Array) {
                this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
              }
              update(d: string | Uint8Array) {
                this.h.update(d);
              }
              async digest() {
                return new Uint8Array(this.h.digest());
              }
            } as never,
            uriEscapePath: false,
            applyChecksum: false,
          });
          const signed = await signer.sign(
            {
              method: 'PUT',
              protocol: 'http:',
              hostname: '127.0.0.1',
              path,
              query: Object.fromEntries([query.split('=') as [string, string]]),
              headers,
            },
            { signingDate: date },
          );
          expect(ours.headers.authorization).toBe(signed.headers.authorization);
        });
      } finally {
        await close(server);
      }
    });

    it('goes to the endpoint AWS_ENDPOINT_URL names when the client has none of its own', async () => {
      const { endpoint, seen, server } = await recordingServer();
      const saved = process.env.AWS_ENDPOINT_URL;
      process.env.AWS_ENDPOINT_URL = endpoint;
      const client = createCopyS3Client({
        region: 'eu-west-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      });
      const direct = createDirectCopy(client);
      try {
        await direct.send(input());
        expect(seen).toHaveLength(1);
        expect(seen[0]?.url.startsWith('/lake/lake/shop/')).toBe(true);
        expect(direct.counters.direct).toBe(1);
      } finally {
        if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
        else process.env.AWS_ENDPOINT_URL = saved;
        direct.destroy();
        client.destroy();
        await close(server);
      }
    });
  });

  describe('what goes through the SDK instead', () => {
    let server: Server;
    let endpoint: string;
    let seen: Seen[];
    let answers: Array<{ status: number; body: string } | 'hang' | 'cut'>;
    beforeAll(async () => {
      ({ endpoint, seen, server } = await recordingServer(() => answers.shift() ?? { status: 200, body: COPY_RESULT }));
    });
    afterAll(() => close(server));
    beforeEach(() => {
      seen.length = 0;
      answers = [];
    });

    it('sends an error answer again through the SDK, which throws the error the SDK always throws', async () => {
      answers = [
        { status: 403, body: errorBody('AccessDenied') },
        { status: 403, body: errorBody('AccessDenied') },
      ];
      await withDirect(endpoint, async (direct) => {
        const error = await direct.send(input()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(S3ServiceException);
        expect(error).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        expect(seen).toHaveLength(2);
        expect(seen[1]?.headers['amz-sdk-invocation-id']).toBeDefined();
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 1 });
        // A refusal is about this object: the next copy is direct again.
        await direct.send(input());
        expect(direct.counters).toEqual({ direct: 1, sdk: 1, fallbacks: 1 });
      });
    });

    it('reads a 200 that carries an error as the error it is', async () => {
      answers = [{ status: 200, body: errorBody('InternalError') }];
      await withDirect(endpoint, async (direct) => {
        const out = await direct.send(input());
        expect(out.CopyObjectResult?.ETag).toBe('"9b2cf535f27731c974343645a3985328"');
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 1 });
      });
    });

    it('after SlowDown sends every copy through the SDK for a minute, then directly again', async () => {
      answers = [{ status: 503, body: errorBody('SlowDown') }];
      let now = 1_000_000;
      await withDirect(
        endpoint,
        async (direct) => {
          await direct.send(input());
          expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 1 });
          now += SDK_AFTER_THROTTLING_MS - 1;
          await direct.send(input());
          expect(direct.counters).toEqual({ direct: 0, sdk: 2, fallbacks: 1 });
          now += 1;
          await direct.send(input());
          expect(direct.counters).toEqual({ direct: 1, sdk: 2, fallbacks: 1 });
        },
        { maxSockets: 4, requestTimeoutMs: 5_000, connectionTimeoutMs: 5_000, now: () => now },
      );
    });

    it('abandons an attempt that gets no answer within the request timeout and sends it through the SDK', async () => {
      answers = ['hang'];
      await withDirect(
        endpoint,
        async (direct) => {
          const out = await direct.send(input());
          expect(out.CopyObjectResult?.ETag).toBe('"9b2cf535f27731c974343645a3985328"');
          expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 1 });
        },
        { maxSockets: 4, requestTimeoutMs: 200, connectionTimeoutMs: 5_000 },
      );
    });

    it('sends a copy again through the SDK when the connection closes before the answer ends', async () => {
      answers = ['cut'];
      await withDirect(endpoint, async (direct) => {
        const out = await direct.send(input());
        expect(out.CopyObjectResult?.ETag).toBe('"9b2cf535f27731c974343645a3985328"');
        expect(seen).toHaveLength(2);
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 1 });
      });
    });

    it('does not send again what the caller cancelled', async () => {
      answers = ['hang'];
      const abort = new AbortController();
      await withDirect(endpoint, async (direct) => {
        const pending = direct.send(input(), abort.signal);
        setTimeout(() => abort.abort(), 50);
        await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
        expect(seen).toHaveLength(1);
        expect(direct.counters).toEqual({ direct: 0, sdk: 0, fallbacks: 0 });
      });
    });

    it("cancels every copy on its way with one listener on the caller's signal", async () => {
      answers = ['hang', 'hang', 'hang'];
      const abort = new AbortController();
      await withDirect(endpoint, async (direct) => {
        const pending = [1, 2, 3].map((n) => direct.send(input({ Key: `k${n}` }), abort.signal));
        while (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
        expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
        abort.abort();
        for (const p of pending) await expect(p).rejects.toMatchObject({ name: 'AbortError' });
        await expect(direct.send(input(), abort.signal)).rejects.toMatchObject({ name: 'AbortError' });
        expect(seen).toHaveLength(3);
        expect(direct.counters).toEqual({ direct: 0, sdk: 0, fallbacks: 0 });
      });
    });

    it("asks the client's credential provider once, and again five minutes before the credentials expire", async () => {
      let now = Date.now();
      let asked = 0;
      const provider = jest.fn(async () => ({
        accessKeyId: `AKID${++asked}`,
        secretAccessKey: 'secret',
        expiration: new Date(Date.now() + 10 * 60_000),
      }));
      const client = clientFor(endpoint);
      // The provider the client resolved (the SDK's own memoization, on the real clock, left out).
      Object.defineProperty(client.config, 'credentials', { value: provider });
      const direct = new DirectCopyObject(client, {
        maxSockets: 4,
        requestTimeoutMs: 5_000,
        connectionTimeoutMs: 5_000,
        now: () => now,
      });
      try {
        await Promise.all([direct.send(input()), direct.send(input())]);
        await direct.send(input());
        expect(provider).toHaveBeenCalledTimes(1);
        now += 6 * 60_000;
        await direct.send(input());
        expect(provider).toHaveBeenCalledTimes(2);
        expect(seen.map((s) => /Credential=(\w+)\//.exec(String(s.headers.authorization))?.[1])).toEqual([
          'AKID1',
          'AKID1',
          'AKID1',
          'AKID2',
        ]);
        expect(direct.counters).toEqual({ direct: 4, sdk: 0, fallbacks: 0 });
      } finally {
        direct.destroy();
        client.destroy();
      }
    });

    it('leaves a value that would break its header line to the SDK, which refuses to send it', async () => {
      await withDirect(endpoint, async (direct) => {
        await expect(direct.send(input({ SSEKMSKeyId: `${KMS_KEY}\r\nx-injected: 1` }))).rejects.toThrow();
        expect(seen.some((s) => 'x-injected' in s.headers)).toBe(false);
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 0 });
      });
    });

    it('leaves members it does not write to the SDK', async () => {
      await withDirect(endpoint, async (direct) => {
        await direct.send({ ...input(), TaggingDirective: 'COPY' } as DirectCopyInput);
        expect(seen[0]?.headers['x-amz-tagging-directive']).toBe('COPY');
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 0 });
      });
    });

    it('leaves endpoints that are not SigV4 on s3 to the SDK: a Multi-Region Access Point', async () => {
      const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const direct = createDirectCopy(client);
      const send = jest
        .spyOn(client, 'send')
        .mockImplementation(async () => ({ CopyObjectResult: { ETag: '"e"' }, $metadata: {} }));
      try {
        const out = await direct.send(input({ Bucket: 'arn:aws:s3::210987654321:accesspoint/mfzwi23gnjvgw.mrap' }));
        expect(out.CopyObjectResult?.ETag).toBe('"e"');
        expect(send).toHaveBeenCalledTimes(1);
        expect(direct.counters).toEqual({ direct: 0, sdk: 1, fallbacks: 0 });
      } finally {
        direct.destroy();
        client.destroy();
      }
    });
  });
});

describe('Class: SigV4', () => {
  it("signs AWS's published example request (S3 API reference, Signature Version 4, GET Object) as AWS does", () => {
    const headers: Record<string, string> = { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9' };
    new SigV4().sign(
      { method: 'GET', path: '/test.txt', query: '', headers },
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      { region: 'us-east-1', service: 's3' },
      Date.parse('2013-05-24T00:00:00Z'),
    );
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
    expect(headers['x-amz-content-sha256']).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('keeps one signing key per day and scope, and signs a new day with a new key', () => {
    const signer = new SigV4();
    const sign = (at: string, region = 'eu-west-1') => {
      const headers: Record<string, string> = { host: 'example.com' };
      signer.sign(
        { method: 'PUT', path: '/b/k', query: 'x-id=CopyObject', headers },
        { accessKeyId: 'A', secretAccessKey: 'S' },
        { region, service: 's3' },
        Date.parse(at),
      );
      return headers;
    };
    const a = sign('2026-12-01T10:00:00Z');
    expect(a['x-amz-date']).toBe('20261201T100000Z');
    expect(a.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=A\/20261201\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(a['x-amz-security-token']).toBeUndefined();
    expect(sign('2026-12-01T10:00:00Z').authorization).toBe(a.authorization);
    expect(sign('2026-12-02T10:00:00Z').authorization).toContain('Credential=A/20261202/eu-west-1/');
    expect(sign('2026-12-01T10:00:00Z', 'us-east-2').authorization).not.toBe(a.authorization);
  });
});
