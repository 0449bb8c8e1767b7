import {
  defaultStageDeps,
  forEachRecord,
  makeRunStageHandler,
  type StageDeps,
} from '../../../../lambdas/shared/runtime/stage-deps';
import { ExportPath, newRun } from '../../../../lambdas/shared/domain/run';
import { silentLogger } from '../../../../lambdas/shared/runtime/logger';
import { StaleTransition } from '../../../../lambdas/shared/errors';
import { simulationSettings } from '../../../simulation/harness';
import { startDynalite, type DynaliteHandle } from '../../../support/dynalite';
import { loadEvent, pipelineEvent, rdsEventWith } from '../../../support/events';

describe('Module: runtime', () => {
  describe('Function: defaultStageDeps', () => {
    let db: DynaliteHandle;
    const saved = { ...process.env };
    beforeAll(async () => {
      db = await startDynalite();
    });
    afterAll(async () => {
      await db.stop();
    });
    afterEach(() => {
      process.env = { ...saved };
    });

    it('builds clients from the SDK standard configuration, so AWS_ENDPOINT_URL points them at any endpoint', async () => {
      const table = await db.createRunTable();
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: db.endpoint,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      });
      const deps = defaultStageDeps('start', { PIPELINE_SETTINGS: JSON.stringify(simulationSettings(table)) })();
      const run = newRun({
        runId: 'r1',
        attempt: 1,
        sourceClusterId: 'c',
        sourceSnapshotId: 's',
        sourceSnapshotArn: 'a',
        path: ExportPath.DIRECT,
        now: new Date(),
        pendingDeadlineMinutes: 1,
      });
      await deps.store.createRun(run);
      expect((await deps.store.get('r1'))?.runId).toBe('r1');
    });

    it('builds the deps once per container and only when first used', () => {
      const env = { PIPELINE_SETTINGS: JSON.stringify(simulationSettings('t')) };
      const get = defaultStageDeps('start', env);
      expect(get()).toBe(get());
      expect(() => defaultStageDeps('start', {})).not.toThrow();
      expect(() => defaultStageDeps('start', {})()).toThrow('PIPELINE_SETTINGS is not set');
    });
  });

  describe('Function: forEachRecord', () => {
    it('skips bad input, ends a lost race quietly, and throws a real failure after every record had its turn', async () => {
      const event = {
        Records: [
          ...loadEvent('sns-subscription-plain-text.json').Records,
          ...loadEvent('pipeline-start.json').Records,
          ...loadEvent('pipeline-cleanup.json').Records,
        ],
      };
      const seen: string[] = [];
      const failure = new Error('RDS is down');
      await expect(
        forEachRecord(event, silentLogger(), async (record) => {
          const kind = record.type === 'pipeline' ? record.message.kind : record.type;
          seen.push(kind);
          if (kind === 'start') throw failure;
          throw new StaleTransition('r', 'COPYING', 'it is SUCCEEDED');
        }),
      ).rejects.toBe(failure);
      expect(seen).toEqual(['start', 'cleanup']);
    });
  });

  describe('Function: makeRunStageHandler', () => {
    const deps = { settings: simulationSettings('t'), logger: silentLogger() } as unknown as StageDeps;
    const acted: string[] = [];
    const handler = makeRunStageHandler(deps, {
      target: 'snapshot',
      eventIds: ['RDS-EVENT-0170'],
      sourceKind: 'cluster',
      act: async (_d, runId) => void acted.push(runId),
    });
    beforeEach(() => void acted.splice(0));

    it('acts on the run of an advance for its own target, and ignores other targets and kinds', async () => {
      await handler(pipelineEvent('snapshot', { kind: 'advance', runId: 'r1' }));
      await handler(pipelineEvent('export', { kind: 'advance', runId: 'r2' }));
      await handler(pipelineEvent('snapshot', { kind: 'cleanup', runId: 'r3' }));
      expect(acted).toEqual(['r1']);
    });

    it('acts on the run whose temporary resource an event is about, and ignores foreign sources and other event ids', async () => {
      await handler(rdsEventWith('rds-event-0170-cluster-created.json', { 'Source ID': 'sim-tmp-r4' }));
      await handler(rdsEventWith('rds-event-0170-cluster-created.json', { 'Source ID': 'prod-cluster' }));
      await handler(rdsEventWith('rds-event-0075-manual-snapshot.json', { 'Source ID': 'sim-tmp-r5' }));
      expect(acted).toEqual(['r4']);
    });
  });
});
