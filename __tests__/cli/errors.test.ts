import { CredentialsMissing, StackNotFound, toCliError, UsageError } from '../../cli/errors';

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
