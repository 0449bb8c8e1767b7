/**
 * AWS clients for the CLI, created once per invocation and only when a command needs them. They use the
 * SDK's standard configuration: credential chain, AWS_PROFILE, and AWS_ENDPOINT_URL (so every command runs
 * against emulators unchanged). The region is the configuration's unless `--region` or AWS_REGION says otherwise.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { defaultDocumentClient } from '../lambdas/shared/adapters/run-store';

/** Static credentials, e.g. from STS AssumeRole. */
export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** The clients a command may use; tests pass mocked or emulator-backed ones. */
export interface AwsClients {
  readonly region: string;
  rds(): RDSClient;
  kms(): KMSClient;
  iam(): IAMClient;
  sts(): STSClient;
  sns(): SNSClient;
  /** Invokes the copy function's destination probe. */
  lambda(): LambdaClient;
  dynamo(): DynamoDBDocumentClient;
  /** An S3 client for a region (access points must be called in their own region), optionally as another principal. */
  s3(region?: string, credentials?: StaticCredentials): S3Client;
}

function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** Path-style addressing when an endpoint override points at an S3 emulator. */
function s3PathStyle(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
}

/**
 * How long a CLI call may wait. The SDK's defaults wait forever for an answer (a request timeout only logs a
 * warning unless `throwOnRequestTimeout` is set), so an endpoint that accepts and never answers would hang
 * the CLI; with these a call fails with a TimeoutError the CLI explains.
 */
export interface CallTimeouts {
  /** Milliseconds to open the connection. */
  readonly connectMs: number;
  /** Milliseconds for a whole request and its answer. */
  readonly requestMs: number;
  /** Milliseconds for a Lambda invocation (the destination probe runs the copy function). */
  readonly invokeMs: number;
}

/** Timeouts of the CLI's calls. */
export const CLI_TIMEOUTS: CallTimeouts = { connectMs: 10_000, requestMs: 60_000, invokeMs: 300_000 };

/** Builds lazily-created default clients for one region. */
export function defaultClients(
  region: string,
  env: NodeJS.ProcessEnv = process.env,
  timeouts: CallTimeouts = CLI_TIMEOUTS,
): AwsClients {
  const s3s = new Map<string, S3Client>();
  const handler = (requestMs: number) => ({
    requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: requestMs, throwOnRequestTimeout: true },
  });
  const common = { region, ...handler(timeouts.requestMs) };
  return {
    region,
    rds: memo(() => new RDSClient(common)),
    kms: memo(() => new KMSClient(common)),
    iam: memo(() => new IAMClient(common)),
    sts: memo(() => new STSClient(common)),
    sns: memo(() => new SNSClient(common)),
    lambda: memo(() => new LambdaClient({ region, ...handler(timeouts.invokeMs) })),
    dynamo: memo(() => defaultDocumentClient(new DynamoDBClient(common))),
    s3: (r = region, credentials) => {
      const key = `${r}|${credentials?.accessKeyId ?? ''}`;
      let c = s3s.get(key);
      if (!c) {
        c = new S3Client({
          ...handler(timeouts.requestMs),
          region: r,
          forcePathStyle: s3PathStyle(env),
          ...(credentials ? { credentials } : {}),
        });
        s3s.set(key, c);
      }
      return c;
    },
  };
}
