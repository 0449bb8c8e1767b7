import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { sourceClusterSchema, destinationSchema, stageDeadlinesSchema } from '../../../config/schema';

/**
 * What every stage function knows about its deployment. The infrastructure writes it in two parts: what only
 * Terraform knows (the account, names and ARNs of deployed resources, see {@link DEPLOYED_SETTING_KEYS}) as JSON
 * in the `PIPELINE_SETTINGS` environment variable, which stays small whatever the configuration; everything
 * else, which grows with the configuration (source clusters and their `exportOnly` lists, destination...), as
 * the `settings.json` file packaged beside the handler. Handlers read both once per container.
 * Anything not here (region, credentials, endpoint) comes from the SDK's standard configuration.
 */
export const runtimeSettingsSchema = z
  .object({
    /** Resource name prefix from the configuration. */
    namePrefix: z.string().min(1),
    /** Prefix of every temporary cluster, snapshot and export task id: `<namePrefix>-tmp-`. */
    tempResourcePrefix: z.string().min(1),
    /** Value of the `managed-by` tag put on every temporary resource. */
    managedByTag: z.string().min(1),
    /** The configured `tags`, which temporary clusters and snapshots carry beside the pipeline's own. */
    tags: z.record(z.string(), z.string()).optional(),
    /** AWS account id the stack is deployed in. */
    accountId: z.string().regex(/^\d{12}$/),
    tableName: z.string().min(1),
    exportBucket: z.string().min(1),
    /** Key prefix under which exports land in the export bucket; each run gets `<exportPrefix>/<runId>/...`. */
    exportPrefix: z.string().min(1),
    /** Customer-managed key the exports are encrypted with. */
    exportKmsKeyArn: z.string().min(1),
    /** Role assumed by export.rds.amazonaws.com to write the export. */
    exportRoleArn: z.string().min(1),
    /** Internal topic carrying messages between stages (message attribute `target` picks the stage). */
    pipelineTopicArn: z.string().min(1),
    /** Topics that receive a short message on failure and (optionally) success. */
    alertTopicArns: z.array(z.string().min(1)),
    notifyOnSuccess: z.boolean(),
    sourceClusters: z.array(sourceClusterSchema),
    restore: z.object({
      dbSubnetGroupName: z.string().optional(),
      vpcSecurityGroupIds: z.array(z.string()),
      engineVersion: z.string().optional(),
    }),
    destination: destinationSchema,
    tableFailurePolicy: z.enum(['fail', 'warn']),
    copy: z.object({
      concurrency: z.number().int().positive(),
      maxWorkers: z.number().int().positive().optional(),
      partSizeMiB: z.number().int().positive(),
      batchMaxObjects: z.number().int().positive(),
      batchMaxGiB: z.number().positive(),
    }),
    stageDeadlinesMinutes: stageDeadlinesSchema,
    orphanGraceMinutes: z.number().int().positive(),
    runRetentionDays: z.number().int().positive(),
  })
  .strict();

/** Settings a stage function runs with. */
export type RuntimeSettings = z.output<typeof runtimeSettingsSchema>;

/** Name of the environment variable holding the JSON of the deployed part of the settings. */
export const SETTINGS_ENV_VAR = 'PIPELINE_SETTINGS';

/** Name of the file, beside the handler in every function's package, holding the rest of the settings. */
export const SETTINGS_FILE = 'settings.json';

/**
 * Settings only Terraform knows at deployment (the account, names and ARNs of the stack's resources): they go
 * in the environment. Their number and size do not depend on the configuration.
 */
export const DEPLOYED_SETTING_KEYS = [
  'accountId',
  'tableName',
  'exportBucket',
  'exportKmsKeyArn',
  'exportRoleArn',
  'pipelineTopicArn',
  'alertTopicArns',
] as const satisfies readonly (keyof RuntimeSettings)[];

/** Reads a file as UTF-8 text. */
export type ReadText = (path: string) => string;

/**
 * Reads and validates the settings: the environment's part, over the packaged file's part when the function
 * runs in Lambda (`LAMBDA_TASK_ROOT`, where the package is unpacked). A deployment error, so it throws loudly.
 */
export function settingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  readText: ReadText = (path) => readFileSync(path, 'utf8'),
): RuntimeSettings {
  const raw = env[SETTINGS_ENV_VAR];
  if (!raw) throw new Error(`${SETTINGS_ENV_VAR} is not set: the function was deployed without its settings`);
  const root = env.LAMBDA_TASK_ROOT;
  let packaged: unknown = {};
  if (root) {
    const path = join(root, SETTINGS_FILE);
    let text: string;
    try {
      text = readText(path);
    } catch (e) {
      throw new Error(
        `${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}): the function was deployed without its settings file`,
      );
    }
    packaged = JSON.parse(text);
  }
  return runtimeSettingsSchema.parse({ ...(packaged as object), ...JSON.parse(raw) });
}
