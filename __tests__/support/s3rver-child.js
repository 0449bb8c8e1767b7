/* Runs s3rver in its own process: s3rver's continuation tokens use DES, which Node 17+ only offers with
 * --openssl-legacy-provider. The parent passes { directory, buckets } and receives { port } once listening. */
'use strict';
const S3rver = require('s3rver');

process.once('message', async ({ directory, buckets }) => {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  process.send({ port });
  process.on('disconnect', () => server.close(() => process.exit(0)));
});
