import { readFileSync } from 'node:fs';
import { configSchema } from '../../config/schema';
import example from '../../config/example.json';
import {
  CONFIG_JSON_SCHEMA,
  CONFIGURATION_DOC,
  configReferenceRows,
  renderConfigJsonSchema,
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

describe('Script: config-reference, the JSON Schema', () => {
  it('keeps config/pipeline.schema.json in step with the schema', () => {
    // On failure: npm run docs:config
    expect(readFileSync(CONFIG_JSON_SCHEMA, 'utf8')).toBe(renderConfigJsonSchema());
  });

  it('is the schema the example names, and describes environments and each key an editor completes', () => {
    const schema = JSON.parse(renderConfigJsonSchema());
    expect(example.$schema).toBe('./pipeline.schema.json');
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(schema.properties)).toEqual(['$schema', 'environments']);
    const environment = schema.properties.environments.additionalProperties;
    expect(environment.required).toEqual(expect.arrayContaining(['accountId', 'namePrefix', 'region', 'destination']));
    expect(environment.additionalProperties).toBe(false);
    expect(environment.properties.exportRetentionDays).toMatchObject({ type: 'integer', default: 7 });
    expect(environment.properties.backend.anyOf ?? environment.properties.backend.oneOf).toHaveLength(3);
    for (const key of Object.keys(example.environments.production))
      expect(environment.properties).toHaveProperty([key]);
  });
});
