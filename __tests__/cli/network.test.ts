import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultClients, type CallTimeouts } from '../../cli/aws';
import { main } from '../../cli/main';
import { captureIo } from './support/io';

const root = join(__dirname, '..', '..');
const run = promisify(execFile);
/** Short timeouts, so that an endpoint that never answers fails within the test. */
const SHORT: CallTimeouts = { connectMs: 1000, requestMs: 300, invokeMs: 300 };
const STACK = { source: 'test', info: { tableName: 'aurora-export-runs' } };

let saved: NodeJS.ProcessEnv;
beforeEach(() => {
  saved = process.env;
  process.env = { ...saved };
});
afterEach(() => {
  process.env = saved;
});

/**
 * The CLI's own clients with an endpoint override in effect, as AWS_ENDPOINT_URL sets it (the SDK reads the
 * process environment when it sends), and test credentials, so that only the network can fail.
 */
function clientsFor(endpoint: string, timeouts?: CallTimeouts) {
  Object.assign(process.env, { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'x' });
  return defaultClients('eu-west-1', process.env, timeouts);
}

async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** An environment where the SDK's credential chain finds nothing: no keys, files, profile or instance role. */
const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^AWS_|^PIPELINE_/.test(k)));
const processEnv: NodeJS.ProcessEnv = {
  ...bare,
  NODE_NO_WARNINGS: '1',
  AWS_REGION: 'eu-west-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  PIPELINE_ENVIRONMENT: 'production',
  PIPELINE_TABLE_NAME: 'aurora-export-runs',
  PIPELINE_STACK_DIR: '/nonexistent/stack',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
};

/** Test credentials, so that only the network can fail. */
const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'x' };

/** Runs the `pipeline` bin as a process that is expected to fail. */
async function cliProcess(
  args: string[],
  extra: NodeJS.ProcessEnv,
): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    await run(process.execPath, [join(root, 'bin', 'pipeline.js'), ...args], {
      cwd: root,
      env: { ...processEnv, ...extra },
    });
  } catch (e) {
    const x = e as { code: number; stderr: string; stdout: string };
    return { code: x.code, stderr: x.stderr, stdout: x.stdout };
  }
  throw new Error('the command succeeded');
}

describe('A network failure says what to check', () => {
  // Run as a process: under Jest, Node's socket errors come from another realm and the SDK wraps them.
  it('names the refused endpoint, the override in effect and the region, in one line', async () => {
    const { server, port } = await listen(() => undefined);
    await new Promise((r) => server.close(r));
    const endpoint = `http://127.0.0.1:${port}`;
    const { code, stdout, stderr } = await cliProcess(['runs', 'list'], { ...KEYS, AWS_ENDPOINT_URL: endpoint });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      `error: AWS is unreachable: connection to 127.0.0.1:${port} refused (ECONNREFUSED). Check the endpoint override ` +
        `(AWS_ENDPOINT_URL=${endpoint}), the region (eu-west-1; --region, AWS_REGION or the configuration), your network, ` +
        'VPN or proxy (HTTPS_PROXY), then retry.',
    ]);
  });

  it('gives up on an endpoint that accepts and never answers, instead of hanging', async () => {
    const sockets: Socket[] = [];
    const { server, port } = await listen((s) => void sockets.push(s));
    try {
      const io = captureIo();
      const code = await main(['preflight', '--json'], {
        io,
        env: { PIPELINE_ENVIRONMENT: 'production' },
        aws: clientsFor(`http://127.0.0.1:${port}`, SHORT),
        stack: STACK,
      });
      expect(code).toBe(1);
      expect(JSON.parse(io.text()).error).toEqual({
        name: 'AwsUnreachable',
        message: expect.stringMatching(/^AWS is unreachable: no answer from AWS in time \(TimeoutError\)\. Check /),
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('names a host that does not resolve', async () => {
    // One read (`runs show`), so one name lookup at a time: `runs list` reads every stage at once, and a burst of
    // lookups of a name that does not exist can meet a resolver that drops part of it and answers only after its
    // 5 s retry, twice.
    const { code, stderr } = await cliProcess(['runs', 'show', 'run-1', '--json'], {
      ...KEYS,
      AWS_ENDPOINT_URL: 'http://dynamodb.no-such-region.invalid',
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^error: AWS is unreachable: cannot resolve dynamodb\.no-such-region\.invalid \((ENOTFOUND|EAI_AGAIN)\)\. Check the endpoint override \(AWS_ENDPOINT_URL=http:\/\/dynamodb\.no-such-region\.invalid\), the region \(eu-west-1;/,
      ),
    ]);
  });
});

describe('Missing credentials say how to provide them', () => {
  it('with no credentials anywhere: one line, no stack trace', async () => {
    const { code, stderr, stdout } = await cliProcess(['runs', 'list'], {});
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: No usable AWS credentials \(.+\)\. Set AWS_PROFILE \(run `aws sso login/),
    ]);
  });

  it('with a profile that does not exist: names the profile', async () => {
    const { stderr } = await cliProcess(['runs', 'list'], { AWS_PROFILE: 'pipeline-operator' });
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: No usable AWS credentials for profile pipeline-operator \(.+\)\. Set AWS_PROFILE/),
    ]);
  });
});
