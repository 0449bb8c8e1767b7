import { mockClient } from 'aws-sdk-client-mock';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { makeHandler, type CopyDeps } from '../../../lambdas/copy/handler';
import {
  isSnsEvent,
  parseProbeRequest,
  probeKey,
  probeResultSchema,
  ProbeRequestRejected,
  runProbe,
  type ProbeDeps,
} from '../../../lambdas/copy/probe';
import { CopyBatchStore } from '../../../lambdas/shared/adapters/copy-batch-store';
import { RunStore } from '../../../lambdas/shared/adapters/run-store';
import { silentLogger } from '../../../lambdas/shared/runtime/logger';
import type { RuntimeSettings } from '../../../lambdas/shared/contracts/settings';
import { startS3rver, type S3rverHandle } from '../../support/s3rver';
import { DEST_BUCKET, PRINCIPAL, RecordingPublisher, snsEvent, testSettings } from './harness';

const NOW = new Date('2026-11-27T10:00:00.000Z');
const AP = 'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake';
const CLIENT_KEY = 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';

function denied(message = 'Access Denied'): Error {
  return Object.assign(new Error(message), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
}

function deps(settings: RuntimeSettings, s3: S3Client): ProbeDeps {
  return { settings, s3, principal: async () => PRINCIPAL, logger: silentLogger() };
}

/** Copy handler deps whose stores are never reached by a probe (it touches only S3). */
function copyDeps(settings: RuntimeSettings, s3: S3Client): CopyDeps {
  const unused = {} as never;
  return {
    settings,
    store: new RunStore({
      tableName: settings.tableName,
      client: unused,
      deadlinesMinutes: settings.stageDeadlinesMinutes,
      retentionDays: 90,
    }),
    batches: new CopyBatchStore({ tableName: settings.tableName, client: unused }),
    s3,
    publisher: new RecordingPublisher(),
    logger: silentLogger(),
    principal: async () => PRINCIPAL,
  };
}

async function body(s3: S3Client, bucket: string, key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

describe('Module: copy/probe', () => {
  describe('Function: parseProbeRequest', () => {
    it('accepts exactly {"kind":"probe"}', () => {
      expect(parseProbeRequest({ kind: 'probe' })).toEqual({ kind: 'probe' });
    });

    it.each([[{}], [{ kind: 'copy-plan', runId: 'r' }], [{ kind: 'probe', extra: 1 }], ['probe'], [null]])(
      'rejects %j with a message saying what is accepted',
      (event) => {
        expect(() => parseProbeRequest(event)).toThrow(ProbeRequestRejected);
        expect(() => parseProbeRequest(event)).toThrow(
          /accepts SNS events from the pipeline topic, or a direct invocation with exactly \{"kind":"probe"\}/,
        );
      },
    );
  });

  describe('Function: isSnsEvent', () => {
    it('tells an SNS delivery from a direct invocation', () => {
      expect(isSnsEvent(snsEvent({ kind: 'copy-plan', runId: 'r' }))).toBe(true);
      expect(isSnsEvent({ kind: 'probe' })).toBe(false);
      expect(isSnsEvent({ Records: 'x' })).toBe(false);
    });
  });

  describe('Function: probeKey', () => {
    it("resolves the key template for a 'preflight' run of the first cluster and puts the probe in _preflight/", () => {
      const settings = testSettings('t');
      expect(probeKey(settings, NOW, 'abcd1234')).toBe(
        'lake/orders/2026-11-27/preflight/_preflight/2026-11-27T10-00-00-000Z-abcd1234.txt',
      );
    });

    it('stays at the top of the destination when the template is empty', () => {
      const settings = testSettings('t', { destination: { keyPrefixTemplate: '' } });
      expect(probeKey(settings, NOW, 'x')).toBe('_preflight/2026-11-27T10-00-00-000Z-x.txt');
    });
  });

  describe('Function: runProbe on s3rver', () => {
    let s3rver: S3rverHandle;
    let s3: S3Client;
    beforeAll(async () => {
      s3rver = await startS3rver([DEST_BUCKET]);
      s3 = s3rver.client();
    });
    afterAll(async () => {
      s3.destroy();
      await s3rver.stop();
    });

    it('writes one probe object under the destination prefix and reports where', async () => {
      const settings = testSettings('t');
      const result = await runProbe(deps(settings, s3), { now: () => NOW, id: 'feedc0de' });
      expect(probeResultSchema.parse(result)).toEqual({
        ok: true,
        bucket: DEST_BUCKET,
        key: 'lake/orders/2026-11-27/preflight/_preflight/2026-11-27T10-00-00-000Z-feedc0de.txt',
        principal: PRINCIPAL,
        expectedBucketOwner: '210987654321',
        aclMode: 'none',
        step: 'put',
      });
      expect(await body(s3, DEST_BUCKET, result.key)).toContain('expire _preflight/');
    });

    it('with a client key and ACLs, writes the same key again as a multipart upload', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'acl-lake' }));
      const settings = testSettings('t', {
        destination: { bucket: 'acl-lake', kmsKeyArn: CLIENT_KEY, aclMode: 'bucket-owner-full-control' },
      });
      const result = await runProbe(deps(settings, s3), { now: () => NOW, id: 'm' });
      expect(result).toMatchObject({
        ok: true,
        step: 'multipart',
        kmsKeyArn: CLIENT_KEY,
        aclMode: 'bucket-owner-full-control',
      });
      expect(await body(s3, 'acl-lake', result.key)).toContain('Write probe from aurora-export');
    });

    it('answers a direct invocation of the copy handler with the probe result', async () => {
      const settings = testSettings('t');
      const result = await makeHandler(copyDeps(settings, s3))({ kind: 'probe' });
      expect(result).toMatchObject({
        ok: true,
        bucket: DEST_BUCKET,
        key: expect.stringMatching(/^lake\/orders\/\d{4}-\d{2}-\d{2}\/preflight\/_preflight\/.*-[0-9a-f]{8}\.txt$/),
      });
    });

    it('rejects any other direct invocation of the copy handler and writes nothing', async () => {
      const handler = makeHandler(copyDeps(testSettings('t', { destination: { bucket: 'never-written' } }), s3));
      await expect(handler({ kind: 'copy-plan', runId: 'r' })).rejects.toThrow(ProbeRequestRejected);
    });
  });

  describe('Function: runProbe when the client refuses', () => {
    const s3 = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const mock = mockClient(s3);
    afterEach(() => mock.reset());

    it('writes through the access point with ExpectedBucketOwner, the ACL mode and the client key, exactly like a delivery', async () => {
      mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
      mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
      mock.on(UploadPartCommand).resolves({ ETag: '"p"' });
      mock.on(CompleteMultipartUploadCommand).resolves({});
      const settings = testSettings('t', {
        destination: {
          bucket: undefined,
          accessPointArn: AP,
          kmsKeyArn: CLIENT_KEY,
          aclMode: 'bucket-owner-full-control',
        },
      });
      const result = await runProbe(deps(settings, s3), { now: () => NOW, id: 'k' });
      expect(result.ok).toBe(true);
      const write = {
        Bucket: AP,
        Key: result.key,
        ExpectedBucketOwner: '210987654321',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: CLIENT_KEY,
        ACL: 'bucket-owner-full-control',
      };
      expect(mock.commandCalls(PutObjectCommand)[0].args[0].input).toMatchObject(write);
      expect(mock.commandCalls(CreateMultipartUploadCommand)[0].args[0].input).toMatchObject(write);
      expect(mock.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input).toMatchObject({
        Bucket: AP,
        UploadId: 'u1',
        ExpectedBucketOwner: '210987654321',
      });
    });

    it('reports AccessDenied with the principal, the resource and the client policies that must allow it', async () => {
      mock.on(PutObjectCommand).rejects(denied());
      const settings = testSettings('t', { destination: { bucket: undefined, accessPointArn: AP } });
      const result = await runProbe(deps(settings, s3), { now: () => NOW, id: 'd' });
      expect(result).toMatchObject({ ok: false, step: 'put', reason: 'AccessDenied', bucket: AP });
      expect(result.error).toContain(
        `s3:PutObject by ${PRINCIPAL} on ${AP}/object/lake/orders/2026-11-27/preflight/_preflight/`,
      );
      expect(result.policies).toEqual([
        `the access point policy of ${AP}`,
        expect.stringContaining('the bucket policy of the bucket behind it (account 210987654321)'),
      ]);
    });

    it('reports a KMS refusal of the multipart write (kms:Decrypt) and aborts the upload', async () => {
      mock.on(PutObjectCommand).resolves({});
      mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u2' });
      mock.on(UploadPartCommand).resolves({ ETag: '"p"' });
      mock
        .on(CompleteMultipartUploadCommand)
        .rejects(denied(`User: ${PRINCIPAL} is not authorized to perform: kms:Decrypt on resource: ${CLIENT_KEY}`));
      mock.on(AbortMultipartUploadCommand).resolves({});
      const settings = testSettings('t', {
        destination: { bucket: undefined, accessPointArn: AP, kmsKeyArn: CLIENT_KEY },
      });
      const result = await runProbe(deps(settings, s3), { now: () => NOW, id: 'kms' });
      expect(result).toMatchObject({ ok: false, step: 'multipart', reason: 'KmsDenied' });
      expect(result.error).toContain(`kms:Decrypt by ${PRINCIPAL} on ${CLIENT_KEY} was denied`);
      expect(result.policies?.[0]).toContain("the key policy of the client's KMS key");
      expect(mock.commandCalls(AbortMultipartUploadCommand)[0].args[0].input).toMatchObject({
        UploadId: 'u2',
        ExpectedBucketOwner: '210987654321',
      });
    });

    it('reports an error a retry may fix as Other, with the raw AWS message', async () => {
      mock.on(PutObjectCommand).rejects(
        Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        }),
      );
      const result = await runProbe(deps(testSettings('t'), s3), { now: () => NOW, id: 'o' });
      expect(result).toMatchObject({ ok: false, reason: 'Other' });
      expect(result.error).toMatch(/PutObject of .* failed: SlowDown: Please reduce your request rate\./);
      expect(result.policies).toBeUndefined();
    });
  });
});
