import { Token } from 'cdktf';
import type { PipelineConfig } from '../config/schema';
import { runtimeSettingsSchema, type RuntimeSettings } from '../lambdas/shared/contracts/settings';

/** Names and ARNs of the deployed resources the settings point at (Terraform tokens at synth time). */
export interface DeployedResources {
  readonly accountId: string;
  readonly tableName: string;
  readonly exportBucket: string;
  readonly exportPrefix: string;
  readonly exportKmsKeyArn: string;
  readonly exportRoleArn: string;
  readonly pipelineTopicArn: string;
  readonly alertTopicArns: readonly string[];
}

/** Lambda allows 4 KiB of environment variables per function. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** What a resolved ARN or name may take at most, to estimate the settings' deployed size. */
const RESOLVED_TOKEN_ALLOWANCE = 100;

/** `<namePrefix>-tmp-`: the prefix of every temporary resource, and the scope of the destructive IAM grants. */
export function tempResourcePrefixOf(namePrefix: string): string {
  return `${namePrefix}-tmp-`;
}

/** Thrown at synth when the settings a function would run with are not valid. */
export class RuntimeSettingsError extends Error {
  public override readonly name = 'RuntimeSettingsError';
}

/**
 * The settings every stage function runs with, built from the configuration and the deployed resources, and
 * checked against the handlers' own schema at synth (with a placeholder where a value is only known to
 * Terraform), so a function can never be deployed with settings its handler would reject.
 */
export function buildRuntimeSettings(config: PipelineConfig, deployed: DeployedResources): RuntimeSettings {
  const settings: RuntimeSettings = {
    namePrefix: config.namePrefix,
    tempResourcePrefix: tempResourcePrefixOf(config.namePrefix),
    managedByTag: config.namePrefix,
    accountId: deployed.accountId,
    tableName: deployed.tableName,
    exportBucket: deployed.exportBucket,
    exportPrefix: deployed.exportPrefix,
    exportKmsKeyArn: deployed.exportKmsKeyArn,
    exportRoleArn: deployed.exportRoleArn,
    pipelineTopicArn: deployed.pipelineTopicArn,
    alertTopicArns: [...deployed.alertTopicArns],
    notifyOnSuccess: config.notifications.notifyOnSuccess,
    sourceClusters: config.sourceClusters,
    restore: config.restore,
    destination: config.destination,
    tableFailurePolicy: config.tableFailurePolicy,
    copy: config.copy,
    stageDeadlinesMinutes: config.stageDeadlinesMinutes,
    orphanGraceMinutes: config.orphanGraceMinutes,
    runRetentionDays: config.runRetentionDays,
  };
  const checkable = {
    ...settings,
    accountId: Token.isUnresolved(settings.accountId) ? '000000000000' : settings.accountId,
  };
  const result = runtimeSettingsSchema.safeParse(checkable);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new RuntimeSettingsError(`The stage functions' settings would be rejected by the handlers:\n${problems}`);
  }
  return settings;
}

/** The settings as the JSON of the `PIPELINE_SETTINGS` variable; fails when they would not fit in Lambda's limit. */
export function runtimeSettingsJson(settings: RuntimeSettings): string {
  const json = JSON.stringify(settings);
  const estimated = Buffer.byteLength(json.replace(/\$\{TfToken\[[^\]]+\]\}/g, 'x'.repeat(RESOLVED_TOKEN_ALLOWANCE)));
  if (estimated > LAMBDA_ENV_LIMIT_BYTES - 200) {
    throw new RuntimeSettingsError(
      `The stage functions' settings would take about ${estimated} bytes, over Lambda's ${LAMBDA_ENV_LIMIT_BYTES}-byte environment limit: shorten exportOnly lists or the number of source clusters`,
    );
  }
  return json;
}
