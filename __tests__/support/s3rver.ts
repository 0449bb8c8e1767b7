import { fork, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

/** A running s3rver on 127.0.0.1 with its buckets, and a way to build clients that talk to it. */
export interface S3rverHandle {
  readonly endpoint: string;
  readonly port: number;
  /** Process id of the emulator (its workers are its children). */
  readonly pid: number;
  /** A client configured for the emulator (path style, checksums only when required). */
  client(overrides?: ConstructorParameters<typeof S3Client>[0]): S3Client;
  /**
   * Writes objects straight into the emulator's store, without HTTP: thousands of objects in a fraction
   * of the time PutObject takes. They list, read and copy like any other object.
   */
  seed(bucket: string, objects: ReadonlyArray<{ key: string; body: string | Uint8Array; contentType?: string }>): void;
  stop(): Promise<void>;
}

/**
 * An S3 client for a local emulator: path-style addressing, checksums only when required (emulators do not
 * implement the SDK's default CRC checksums).
 */
export function emulatorS3Client(
  endpoint: string,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
  overrides: ConstructorParameters<typeof S3Client>[0] = {},
): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

/** Credentials s3rver accepts (its defaults). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * Where the emulator keeps its store by default: a memory-backed folder where the machine has one (Linux's
 * /dev/shm), else the system's temporary folder. Each object is three files, and tests seed, copy and delete
 * thousands of them: on a disk, creating and unlinking those files was most of the copy tests' time.
 */
function storeRoot(): string {
  const shm = '/dev/shm';
  try {
    accessSync(shm, constants.W_OK);
    if (statSync(shm).isDirectory()) return shm;
  } catch {
    // no memory-backed folder here
  }
  return tmpdir();
}

/**
 * Starts s3rver on 127.0.0.1, port 0, in a temporary directory (under `options.root`, by default
 * {@link storeRoot}), with the given buckets.
 *
 * The emulator runs in a child Node process started with `--openssl-legacy-provider`, because s3rver
 * encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only provides through the legacy
 * provider. Running it apart keeps that flag out of the test process and keeps the emulator's work off
 * the event loop of the code under test.
 */
export async function startS3rver(
  buckets: readonly string[],
  options: { workers?: number; root?: string } = {},
): Promise<S3rverHandle> {
  const directory = mkdtempSync(join(options.root ?? storeRoot(), 's3rver-'));
  const child: ChildProcess = fork(join(__dirname, 's3rver-child.js'), [], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited early with code ${code}`)));
    child.send({ directory, buckets, workers: options.workers ?? 1 });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    pid: child.pid as number,
    client: (overrides = {}) => emulatorS3Client(endpoint, S3RVER_CREDENTIALS, overrides),
    seed: (bucket, objects) => {
      for (const o of objects) {
        const parts = o.key.split('/');
        const base = join(directory, bucket, ...parts.slice(0, -1), `${parts[parts.length - 1]}._S3rver_`);
        mkdirSync(dirname(base), { recursive: true });
        writeFileSync(`${base}object`, o.body);
        writeFileSync(`${base}object.md5`, createHash('md5').update(o.body).digest('hex'));
        writeFileSync(
          `${base}metadata.json`,
          JSON.stringify({ 'content-type': o.contentType ?? 'application/octet-stream' }),
        );
      }
    },
    stop: async () => {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.disconnect();
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        });
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
