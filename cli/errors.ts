/**
 * Errors the operator CLI reports as one actionable line (exit code 2 for usage, 1 for everything else),
 * and the translation of AWS SDK failures into them.
 */

/** Base of every error the CLI prints without a stack trace. */
export class CliError extends Error {
  public override name = 'CliError';
  /** Process exit code for this error. */
  public readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The command line itself is wrong: unknown command or flag, missing argument. */
export class UsageError extends CliError {
  public override name = 'UsageError';
  public override readonly exitCode = 2;
}

/** The deployed stack (its Terraform outputs) could not be found, or lacks a value a command needs. */
export class StackNotFound extends CliError {
  public override name = 'StackNotFound';
}

/** No run with this id in the run table. */
export class RunNotFound extends CliError {
  public override name = 'RunNotFound';
  constructor(
    public readonly runId: string,
    tableName: string,
  ) {
    super(`No run ${runId} in table ${tableName}. List recent runs with: npm run -s pipeline -- runs list`);
  }
}

/** No AWS credentials, or expired ones. */
export class CredentialsMissing extends CliError {
  public override name = 'CredentialsMissing';
}

/** The requested action does not apply to the run as it is now (e.g. retrying a run that succeeded). */
export class InvalidRunState extends CliError {
  public override name = 'InvalidRunState';
}

/** A run would not be allowed to deliver where it must (another run's delivery is there), so it is not started. */
export class DeliveryRefused extends CliError {
  public override name: string;
  constructor(message: string, refusal: Error) {
    super(message, { cause: refusal });
    // The engine's own kind (DestinationTaken, PartialDeliveryPresent), as a run would record it.
    this.name = refusal.name;
  }
}

/** AWS could not be reached at all: the endpoint, region, proxy or network is wrong, or down. */
export class AwsUnreachable extends CliError {
  public override name = 'AwsUnreachable';
}

const CREDENTIALS_FIX =
  'Set AWS_PROFILE (run `aws sso login --profile <name>` for SSO), or export ' +
  'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, or run where an IAM role is attached.';

/** Node's codes for a connection that could not be made or was lost, and the SDK's timeout. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);

/** What the CLI knows of where it was calling, for messages. */
export interface CallContext {
  readonly tableName?: string;
  readonly region?: string;
  /** The environment, for the endpoint override and profile in effect. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The endpoint override in effect, if any (the SDK honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>). */
function endpointOverrides(env: NodeJS.ProcessEnv | undefined): string[] {
  if (!env) return [];
  return Object.entries(env)
    .filter(([k, v]) => v && (k === 'AWS_ENDPOINT_URL' || k.startsWith('AWS_ENDPOINT_URL_')))
    .map(([k, v]) => `${k}=${v}`);
}

/** One line for a request that never got an answer from AWS: what failed, and what to check. */
function unreachable(
  e: { code?: string; name?: string; message?: string; hostname?: string; address?: string; port?: number },
  where: CallContext | undefined,
  error: unknown,
): AwsUnreachable {
  const code = e.code ?? e.name ?? 'network error';
  const target = e.hostname ?? (e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : undefined);
  const overrides = endpointOverrides(where?.env);
  const endpoint = overrides.length
    ? `the endpoint override (${overrides.join(', ')})`
    : 'the endpoint (AWS_ENDPOINT_URL if you use one)';
  const region = `the region${where?.region ? ` (${where.region}; --region, AWS_REGION or the configuration)` : ''}`;
  const what =
    code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `cannot resolve ${target ?? 'the AWS endpoint'} (${code})`
      : code === 'ECONNREFUSED'
        ? `connection to ${target ?? 'the AWS endpoint'} refused (${code})`
        : e.name === 'TimeoutError' || code === 'ETIMEDOUT'
          ? `no answer from ${target ?? 'AWS'} in time (${e.name === 'TimeoutError' ? 'TimeoutError' : code})`
          : `the connection to ${target ?? 'AWS'} failed (${code})`;
  return new AwsUnreachable(
    `AWS is unreachable: ${what}. Check ${endpoint}, ${region}, your network, VPN or proxy (HTTPS_PROXY), then retry.`,
    { cause: error },
  );
}

/** Names of SDK errors that mean "your credentials are missing or no longer valid". */
const EXPIRED = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'TokenRefreshRequired',
]);

/**
 * Turns any thrown value into a CliError with a one-line, actionable message; CliErrors pass through.
 * `where` names the resource being read, so a missing table reads as a missing stack.
 */
export function toCliError(error: unknown, where?: CallContext): CliError {
  if (error instanceof CliError) return error;
  const e = error as { name?: string; message?: string; code?: string };
  const name = e?.name ?? '';
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError') {
    const profile = where?.env?.AWS_PROFILE;
    const said = e.message ? e.message.split('\n')[0] : '';
    return new CredentialsMissing(
      `No usable AWS credentials${profile ? ` for profile ${profile}` : ''}${said ? ` (${said})` : ''}. ${CREDENTIALS_FIX}`,
      { cause: error },
    );
  }
  if ((e?.code && NETWORK_CODES.has(e.code)) || name === 'TimeoutError') return unreachable(e, where, error);
  if (EXPIRED.has(name)) {
    return new CredentialsMissing(
      `AWS rejected the credentials (${name}): refresh them (e.g. \`aws sso login\`) and retry.`,
      { cause: error },
    );
  }
  if (name === 'ResourceNotFoundException' && where?.tableName) {
    return new StackNotFound(
      `Run table ${where.tableName} not found${where.region ? ` in ${where.region}` : ''}: is the stack deployed (cdktf deploy) in this account and region?`,
      { cause: error },
    );
  }
  const message = e?.message ? e.message.split('\n')[0] : String(error);
  return new CliError(name && name !== 'Error' ? `${name}: ${message}` : message, { cause: error });
}
