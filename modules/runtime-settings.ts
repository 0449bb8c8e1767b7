import { Token } from 'cdktf';
import type { PipelineConfig } from '../config/schema';
import {
  DEPLOYED_SETTING_KEYS,
  runtimeSettingsSchema,
  type RuntimeSettings,
} from '../lambdas/shared/contracts/settings';

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
    tags: config.tags,
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

/** The settings as a function receives them: the environment's part and the packaged file. */
export interface PackagedSettings {
  /** JSON of the deployed part (`PIPELINE_SETTINGS`): names and ARNs Terraform fills in, small and bounded. */
  readonly environmentJson: string;
  /** The `settings.json` packaged beside every handler: canonical JSON (sorted keys), so the same configuration always gives the same bytes. */
  readonly file: Uint8Array;
}

/** JSON with every object's keys sorted: byte-stable whatever order the configuration was written in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * Splits the settings between the environment (what only Terraform knows) and the packaged file (everything
 * known at synth, which is what grows with the configuration). The file must hold no Terraform token: a token
 * inside a zip would never be resolved.
 */
export function packageRuntimeSettings(settings: RuntimeSettings): PackagedSettings {
  const deployedKeys: readonly string[] = DEPLOYED_SETTING_KEYS;
  const deployed = Object.fromEntries(DEPLOYED_SETTING_KEYS.map((k) => [k, settings[k]]));
  const rest = Object.fromEntries(Object.entries(settings).filter(([k]) => !deployedKeys.includes(k)));
  const fileJson = canonicalJson(rest);
  if (Token.isUnresolved(fileJson)) {
    throw new RuntimeSettingsError(
      `The packaged settings hold a value only Terraform knows; move its key to DEPLOYED_SETTING_KEYS: ${fileJson}`,
    );
  }
  return { environmentJson: JSON.stringify(deployed), file: new TextEncoder().encode(fileJson) };
}
