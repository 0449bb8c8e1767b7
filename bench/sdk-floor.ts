/**
 * CPU per CopyObject of the copy client's two paths: `npm run bench:sdk`.
 *
 * Sends CopyObject calls, 16 at once, to an HTTP server in a child process that answers each at once with a
 * fixed CopyObjectResult, and prints this process's CPU per request, for each path the copy stage has:
 * - `sdk`: the AWS SDK's client (`createCopyS3Client`), middleware stack, signer, XML parser and all;
 * - `direct`: the hand-signed request of `createDirectCopy` (lambdas/shared/adapters/s3-direct-copy.ts).
 * That is the floor under the copy stage's CPU per small object, whatever the copy stage itself does. With
 * BENCH_WITH_TRACER=1 the tracer module of the stage functions is loaded first, as a stage function loads it:
 * the X-Ray SDK it brings installs an async hook that every promise of the process then pays for.
 *
 * Knobs: BENCH_REQUESTS (4000), BENCH_CONCURRENCY (16), BENCH_WITH_TRACER (unset), BENCH_PATHS (`sdk,direct`),
 * BENCH_LATENCY_MS (0: the server answers at once; with S3's latency, each answer wakes the client on its own).
 */
import { spawn } from 'node:child_process';
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { createCopyS3Client, createDirectCopy } from '../lambdas/shared/adapters/s3-copy';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WITH_TRACER = process.env.BENCH_WITH_TRACER === '1';
const PATHS = (process.env.BENCH_PATHS ?? 'sdk,direct').split(',').map((p) => p.trim());
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 0);

const SERVER = `
const body = '<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><LastModified>2026-12-01T00:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>';
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, Number(process.argv[1])));
});
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
process.on('disconnect', () => process.exit(0));
`;

async function main(): Promise<void> {
  if (WITH_TRACER) await import('../lambdas/shared/runtime/tracer.js');
  const child = spawn(process.execPath, ['-e', SERVER, String(LATENCY_MS)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  const s3 = createCopyS3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const direct = createDirectCopy(s3);
  const input = (k: number) => ({
    Bucket: 'bench-lake',
    Key: `lake/shop/dt=2026-12-01/run/shop/public.orders/1/part-${k}.gz.parquet`,
    CopySource: `bench-export/exports/run/task/shop/public.orders/1/part-${k}.gz.parquet`,
    ExpectedSourceBucketOwner: '123456789012',
    ExpectedBucketOwner: '210987654321',
    MetadataDirective: 'COPY' as const,
  });
  const send = {
    sdk: (k: number) => s3.send(new CopyObjectCommand(input(k))),
    direct: (k: number) => direct.send(input(k)),
  };
  const run = async (path: keyof typeof send, n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const out = await send[path](next++);
          if (!out.CopyObjectResult?.ETag) throw new Error('no ETag in the answer');
        }
      }),
    );
  };
  for (const path of PATHS as Array<keyof typeof send>) {
    if (!send[path]) throw new Error(`unknown path ${path}; known: ${Object.keys(send).join(', ')}`);
    await run(path, Math.min(500, REQUESTS)); // warm: code, sockets, the JIT
    const cpu = process.cpuUsage();
    const start = performance.now();
    await run(path, REQUESTS);
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `CopyObject, ${path} path${WITH_TRACER ? ', tracer module loaded' : ''}${LATENCY_MS ? `, answers after ${LATENCY_MS} ms` : ''}: ${REQUESTS} requests, ` +
        `${(REQUESTS / seconds).toFixed(0)} requests/s, ${((used.user + used.system) / 1000 / REQUESTS).toFixed(3)} ms client CPU per request`,
    );
  }
  if (direct.counters.fallbacks > 0) throw new Error(`${direct.counters.fallbacks} direct copies fell back to the SDK`);
  direct.destroy();
  s3.destroy();
  child.disconnect();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
