/* Runs s3rver in its own process: s3rver's continuation tokens use DES, which Node 17+ only offers with
 * --openssl-legacy-provider. The parent passes { directory, buckets, workers } and receives { port } once
 * listening. With workers > 1 the emulator runs as a Node cluster sharing one port and one store directory,
 * so that it is not the bottleneck of a benchmark. */

const cluster = require('node:cluster');
const S3rver = require('s3rver');

async function serve(directory, buckets, port) {
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = await server.run();
  return { server, port: address.port };
}

if (cluster.isWorker) {
  const { S3RVER_DIRECTORY, S3RVER_BUCKETS } = process.env;
  serve(S3RVER_DIRECTORY, JSON.parse(S3RVER_BUCKETS), 0).then(({ port }) => process.send({ port }));
} else {
  process.once('message', async ({ directory, buckets, workers = 1 }) => {
    if (workers <= 1) {
      const { server, port } = await serve(directory, buckets, 0);
      process.send({ port });
      process.on('disconnect', () => server.close(() => process.exit(0)));
      return;
    }
    cluster.setupPrimary({ execArgv: process.execArgv });
    const env = { S3RVER_DIRECTORY: directory, S3RVER_BUCKETS: JSON.stringify(buckets) };
    const started = Array.from({ length: workers }, () => {
      const worker = cluster.fork(env);
      return new Promise((resolve) => worker.once('message', (m) => resolve(m.port)));
    });
    const ports = await Promise.all(started);
    process.send({ port: ports[0] });
    process.on('disconnect', () => {
      for (const worker of Object.values(cluster.workers)) worker.kill();
      process.exit(0);
    });
  });
}
