import { exec } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunStore } from '../../lambdas/shared/adapters/run-store';
import { ExportPath, newRun } from '../../lambdas/shared/domain/run';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { DEFAULT_STAGE_DEADLINES } from '../../config/schema';

const sh = promisify(exec);
const root = join(__dirname, '..', '..');

/** Every documented command that pipes `--json` output into jq, with the file that shows it. */
function documentedJsonCommands(): { file: string; command: string }[] {
  const found: { file: string; command: string }[] = [];
  for (const file of ['README.md', 'docs/operations.md']) {
    for (const m of readFileSync(join(root, file), 'utf8').matchAll(/npm run[^`\n]*--json \| jq [^`\n]*/g))
      found.push({ file, command: m[0].trim() });
  }
  return found;
}

describe('The documented --json commands', () => {
  let dynalite: DynaliteHandle;
  let env: NodeJS.ProcessEnv;
  const runId = 'orders-202612010310-abc123';

  beforeAll(async () => {
    dynalite = await startDynalite();
    const tableName = await dynalite.createRunTable();
    const store = new RunStore({
      tableName,
      client: dynalite.documentClient(),
      deadlinesMinutes: DEFAULT_STAGE_DEADLINES,
      retentionDays: 90,
    });
    const snapshotId = 'rds:orders-provisioned-2026-12-01-03-10';
    await store.createRun(
      newRun({
        runId,
        attempt: 1,
        sourceClusterId: 'orders-provisioned',
        sourceSnapshotId: snapshotId,
        sourceSnapshotArn: `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${snapshotId}`,
        reuseDestination: false,
        path: ExportPath.DIRECT,
        now: new Date(),
        pendingDeadlineMinutes: 120,
      }),
    );
    env = {
      ...process.env,
      NODE_NO_WARNINGS: '1',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_ENDPOINT_URL: dynalite.endpoint,
      PIPELINE_ENVIRONMENT: 'production',
      PIPELINE_TABLE_NAME: tableName,
      PIPELINE_STACK_DIR: '/nonexistent/stack',
    };
  });

  afterAll(async () => {
    await dynalite.stop();
  });

  it('are shown in the README and the operations guide', () => {
    expect(documentedJsonCommands().map((c) => c.file)).toEqual(['README.md', 'docs/operations.md']);
  });

  it.each(documentedJsonCommands())('print only JSON on stdout, run as $file shows: $command', async ({ command }) => {
    const producer = command.slice(0, command.indexOf(' | jq '));
    const { stdout } = await sh(producer, { cwd: root, env });
    const parsed = JSON.parse(stdout) as { runs: { runId: string }[] };
    expect(parsed.runs.map((r) => r.runId)).toEqual([runId]);
  });
});
