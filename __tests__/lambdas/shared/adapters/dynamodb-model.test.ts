import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * What the copy stage's run-table writes rely on, read from the documentation AWS ships inside the installed
 * `@aws-sdk/client-dynamodb` (generated from the service model), not from dynalite.
 */
const models = join(dirname(require.resolve('@aws-sdk/client-dynamodb')), '..', 'dist-types', 'models');
const docs = readdirSync(models)
  .filter((f) => f.endsWith('.d.ts'))
  .map((f) => readFileSync(join(models, f), 'utf8'))
  .join('\n')
  // TSDoc lines: drop the comment markers and join the words
  .replace(/\n\s*\*\s*/g, ' ')
  .replace(/<\/?code>/g, '')
  .replace(/\s+/g, ' ');

describe('DynamoDB behaviours the copy stage relies on, in the service model docs', () => {
  it('UpdateItem returns the updated attributes as they were before the update with UPDATED_OLD', () => {
    expect(docs).toContain(
      'UPDATED_OLD - Returns only the updated attributes, as they appeared before the UpdateItem operation.',
    );
  });

  it('ADD of a negative number subtracts it from a number attribute', () => {
    expect(docs).toContain('If Value is a negative number, then it is subtracted from the existing attribute.');
  });
});
