import { readFileSync } from 'node:fs';
import { configSchema } from '../../config/schema';
import {
  CONFIGURATION_DOC,
  configReferenceRows,
  renderConfigReference,
  tableInDocument,
  withFreshTable,
} from '../../scripts/config-reference';

describe('Script: config-reference', () => {
  it('keeps the table in docs/configuration.md in step with the schema', () => {
    const table = tableInDocument(readFileSync(CONFIGURATION_DOC, 'utf8'));
    expect(table).toBeDefined();
    // On failure: node --import tsx scripts/config-reference.ts --write
    expect(table).toBe(renderConfigReference());
  });

  it('lists every top-level key of the schema', () => {
    const keys = configReferenceRows().map((r) => r.key);
    for (const k of Object.keys(configSchema.shape)) expect(keys).toContain(k);
  });

  it('takes descriptions, defaults and requiredness from the schema', () => {
    const row = (key: string) => configReferenceRows().find((r) => r.key === key);
    expect(row('namePrefix')).toMatchObject({ required: true, type: expect.stringContaining('length ≤ 20') });
    expect(row('sourceClusters[].exportMode')).toMatchObject({
      required: false,
      default: '`"auto"`',
      type: '`auto` \\| `direct` \\| `restore`',
    });
    expect(row('stageDeadlinesMinutes.exporting')).toMatchObject({
      default: '`720`',
      description: 'Minutes an export task may take.',
    });
    expect(row('backend.bucket')).toMatchObject({ required: true, description: 'State bucket. (with `type: s3`)' });
    expect(row('destination.kmsKeyArn')?.required).toBe(false);
  });

  it('replaces only the text between the markers', () => {
    const doc = readFileSync(CONFIGURATION_DOC, 'utf8');
    const stale = doc.replace(/\| `region` \|[^\n]*/, '| `region` | old | yes |  | stale |');
    expect(tableInDocument(stale)).not.toBe(renderConfigReference());
    expect(withFreshTable(stale)).toBe(doc);
  });
});
