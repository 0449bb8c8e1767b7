import { AwsUnreachable, CredentialsMissing, StackNotFound, toCliError, UsageError } from '../../cli/errors';

function sdkError(name: string, message = 'boom'): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

describe('Function: toCliError', () => {
  it('turns a missing credential chain into one line that says how to provide credentials', () => {
    const e = toCliError(sdkError('CredentialsProviderError', 'Could not load credentials from any providers'));
    expect(e).toBeInstanceOf(CredentialsMissing);
    expect(e.message).toMatch(/AWS_PROFILE.*aws sso login/);
    expect(e.message).not.toContain('\n');
  });

  it('asks for fresh credentials when they expired', () => {
    expect(toCliError(sdkError('ExpiredTokenException')).message).toMatch(/refresh them/);
  });

  it('reads a missing run table as a stack that is not deployed here', () => {
    const e = toCliError(sdkError('ResourceNotFoundException', 'Requested resource not found'), {
      tableName: 'runs',
      region: 'eu-west-1',
    });
    expect(e).toBeInstanceOf(StackNotFound);
    expect(e.message).toContain('Run table runs not found in eu-west-1');
  });

  it('keeps the first line of any other error with its name', () => {
    expect(toCliError(sdkError('ThrottlingException', 'Rate exceeded\nmore')).message).toBe(
      'ThrottlingException: Rate exceeded',
    );
  });

  it('passes CLI errors through unchanged, with their exit code', () => {
    const usage = new UsageError('bad');
    expect(toCliError(usage)).toBe(usage);
    expect(usage.exitCode).toBe(2);
  });
});

describe('Function: toCliError on network failures', () => {
  function nodeError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
    return Object.assign(new Error(message), { code, ...extra });
  }

  it('reads a connection timeout as AWS unreachable, naming the address', () => {
    const e = toCliError(nodeError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:443', { address: '10.0.0.1', port: 443 }), {
      region: 'eu-west-1',
      env: {},
    });
    expect(e).toBeInstanceOf(AwsUnreachable);
    expect(e.message).toBe(
      'AWS is unreachable: no answer from 10.0.0.1:443 in time (ETIMEDOUT). Check the endpoint (AWS_ENDPOINT_URL if ' +
        'you use one), the region (eu-west-1; --region, AWS_REGION or the configuration), your network, VPN or proxy ' +
        '(HTTPS_PROXY), then retry.',
    );
  });

  it('names every endpoint override in effect, service-specific ones included', () => {
    const e = toCliError(nodeError('ECONNRESET', 'socket hang up'), {
      env: { AWS_ENDPOINT_URL_DYNAMODB: 'http://localhost:8000', HOME: '/root' },
    });
    expect(e.message).toMatch(
      /^AWS is unreachable: the connection to AWS failed \(ECONNRESET\)\. Check the endpoint override \(AWS_ENDPOINT_URL_DYNAMODB=http:\/\/localhost:8000\), the region, /,
    );
  });

  it("reads the SDK's TimeoutError as AWS unreachable", () => {
    const timeout = Object.assign(new Error('Connection timed out after 10000 ms'), { name: 'TimeoutError' });
    expect(toCliError(timeout).message).toMatch(/^AWS is unreachable: no answer from AWS in time \(TimeoutError\)\./);
  });

  it('leaves an answer from AWS alone, even one with a code', () => {
    expect(toCliError(nodeError('AccessDenied', 'not authorized')).name).toBe('CliError');
  });
});
