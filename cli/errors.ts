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
    super(`No run ${runId} in table ${tableName}. List recent runs with: npm run pipeline -- runs list`);
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

const CREDENTIALS_FIX =
  'No AWS credentials found. Set AWS_PROFILE (run `aws sso login --profile <name>` for SSO), or export ' +
  'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, or run where an IAM role is attached.';

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
export function toCliError(error: unknown, where?: { tableName?: string; region?: string }): CliError {
  if (error instanceof CliError) return error;
  const e = error as { name?: string; message?: string; Code?: string };
  const name = e?.name ?? '';
  if (name === 'CredentialsProviderError') return new CredentialsMissing(CREDENTIALS_FIX, { cause: error });
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
