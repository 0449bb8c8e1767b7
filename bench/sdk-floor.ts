/**
 * The AWS SDK's own CPU per CopyObject: `npm run bench:sdk`.
 *
 * The copy client (`createCopyS3Client`) sends CopyObject calls, 16 at once, to an HTTP server in the same
 * process that answers each at once with a fixed CopyObjectResult, and prints the process's CPU per request:
 * the floor under the copy stage's CPU per small object, whatever the copy stage itself does. With
 * BENCH_WITH_TRACER=1 the tracer module of the stage functions is loaded first, as a stage function loads it:
 * the X-Ray SDK it brings installs an async hook that every promise of the process then pays for.
 *
 * Knobs: BENCH_REQUESTS (4000), BENCH_CONCURRENCY (16), BENCH_WITH_TRACER (unset).
 */
import { createServer } from 'node:http';
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { createCopyS3Client } from '../lambdas/shared/adapters/s3-copy';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WITH_TRACER = process.env.BENCH_WITH_TRACER === '1';

const body =
  '<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><LastModified>2026-12-01T00:00:00.000Z</LastModified><ETag>"9b2cf535f27731c974343645a3985328"</ETag></CopyObjectResult>';

async function main(): Promise<void> {
  if (WITH_TRACER) await import('../lambdas/shared/runtime/tracer.js');

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const s3 = createCopyS3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const run = async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          const k = next++;
          await s3.send(
            new CopyObjectCommand({
              Bucket: 'bench-lake',
              Key: `lake/shop/dt=2026-12-01/run/shop/public.orders/1/part-${k}.gz.parquet`,
              CopySource: `bench-export/exports/run/task/shop/public.orders/1/part-${k}.gz.parquet`,
              ExpectedSourceBucketOwner: '123456789012',
              ExpectedBucketOwner: '210987654321',
              MetadataDirective: 'COPY',
            }),
          );
        }
      }),
    );
  };
  await run(Math.min(500, REQUESTS)); // warm: code, sockets, the JIT
  const cpu = process.cpuUsage();
  const start = performance.now();
  await run(REQUESTS);
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `CopyObject through the copy client${WITH_TRACER ? ', tracer module loaded' : ''}: ${REQUESTS} requests, ` +
      `${(REQUESTS / seconds).toFixed(0)} requests/s, ${((used.user + used.system) / 1000 / REQUESTS).toFixed(2)} ms CPU per request ` +
      '(client and a trivial server in one process)',
  );
  s3.destroy();
  server.close();
}

void main();
