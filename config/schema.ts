import { z } from 'zod';

/**
 * The pipeline's configuration: one schema, the single source for validation, the TypeScript types,
 * the example file and the README's configuration reference.
 */

const identifier = z
  .string()
  .regex(/^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/, 'letters, digits and single hyphens, starting with a letter')
  .refine((v) => !v.endsWith('-'), 'must not end with a hyphen');

const accountId = z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id');
const region = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, 'an AWS region such as eu-west-1');
const kmsKeyArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
    'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
  );
const snsTopicArn = z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN');
const accessPointArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:s3:[a-z0-9-]+:\d{12}:accesspoint\/[a-z0-9-]{3,50}$/,
    'an S3 access point ARN (arn:aws:s3:<region>:<account>:accesspoint/<name>)',
  );
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name');
const positiveInt = z.number().int().positive();

/**
 * Copies in flight across all copy workers that keep one destination prefix under S3's 3,500 writes per second
 * at about 100 ms per CopyObject (3,500 × 0.1 s).
 */
export const COPY_IN_FLIGHT_BOUND = 350;
/**
 * Most reserved concurrency the copy function may take: Lambda's default regional quota is 1,000 concurrent
 * executions and keeps 100 of them unreserved for the account's other functions.
 */
export const MAX_COPY_WORKERS = 900;
/** Most objects one copy worker copies at once (`copy.concurrency`). */
export const MAX_COPY_CONCURRENCY = 256;

/** The copy workers a configuration allows: `maxWorkers`, else as many as keep the copies in flight in bound. */
export function copyWorkers(copy: { readonly concurrency: number; readonly maxWorkers?: number }): number {
  return copy.maxWorkers ?? Math.max(1, Math.floor(COPY_IN_FLIGHT_BOUND / copy.concurrency));
}

/** Export modes: `auto` exports directly when RDS allows it and restores otherwise. */
export const ExportMode = { AUTO: 'auto', DIRECT: 'direct', RESTORE: 'restore' } as const;
export type ExportMode = (typeof ExportMode)[keyof typeof ExportMode];

export const sourceClusterSchema = z
  .object({
    identifier: identifier
      .max(63)
      .describe('DB cluster identifier of the Aurora cluster whose automated snapshots are exported.'),
    exportMode: z
      .enum([ExportMode.AUTO, ExportMode.DIRECT, ExportMode.RESTORE])
      .default(ExportMode.AUTO)
      .describe(
        '`auto`: export directly when the snapshot allows it, else restore first; `direct`: always export directly; `restore`: always restore to a temporary provisioned cluster first.',
      ),
    exportOnly: z
      .array(z.string().min(1))
      .default([])
      .describe('Databases, schemas or tables to export (StartExportTask `ExportOnly`); empty exports everything.'),
    snapshotKmsKeyArn: kmsKeyArn
      .optional()
      .describe(
        'The customer-managed KMS key the cluster (and so its snapshots) is encrypted with, when it is not the AWS-managed `aws/rds` key: the start and export functions may then create grants on it, through RDS only, to restore its snapshots and export them.',
      ),
  })
  .strict();

const iamRoleArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
    'an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
  );

export const backendSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('local'),
        path: z
          .string()
          .min(1)
          .default('terraform.tfstate')
          .describe("State file path, relative to the environment's stack folder `cdktf.out/stacks/<environment>`."),
      })
      .strict(),
    z
      .object({
        type: z.literal('s3'),
        bucket: bucketName.describe('State bucket.'),
        key: z.string().min(1).describe('State object key; unique per environment.'),
        region: region.describe('Region of the state bucket.'),
        roleArn: iamRoleArn
          .optional()
          .describe('Role Terraform assumes to read and write the state (`assume_role` of the backend).'),
        kmsKeyArn: kmsKeyArn.optional().describe('KMS key the state object is encrypted with (needs `encrypt`).'),
        useLockfile: z.boolean().default(true).describe('Use S3 native state locking (Terraform ≥ 1.10).'),
        dynamodbTable: z
          .string()
          .min(3)
          .optional()
          .describe('Legacy DynamoDB lock table, when S3 locking is not used.'),
        encrypt: z.boolean().default(true).describe('Encrypt the state object.'),
      })
      .strict(),
    z
      .object({
        type: z.literal('cloud'),
        organization: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, underscores and hyphens')
          .describe('HCP Terraform or Terraform Enterprise organization.'),
        workspace: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,90}$/, 'letters, digits, underscores and hyphens, at most 90')
          .describe('Workspace that holds the state; unique per environment.'),
        project: z.string().min(1).optional().describe('Project the workspace belongs to.'),
        hostname: z
          .string()
          .regex(/^[a-z0-9.-]+(:\d+)?$/, 'a host name such as app.terraform.io')
          .default('app.terraform.io')
          .describe('`app.terraform.io` for HCP Terraform, else the Terraform Enterprise host.'),
      })
      .strict(),
  ])
  .default({ type: 'local', path: 'terraform.tfstate' });

export const assumeRoleSchema = z
  .object({
    roleArn: iamRoleArn.describe("Role in the environment's account that Terraform assumes to plan and apply."),
    sessionName: z
      .string()
      .regex(/^[\w+=,.@-]{2,64}$/, 'letters, digits and +=,.@_- (2–64 characters)')
      .optional()
      .describe('Session name, shown in CloudTrail.'),
    externalId: z
      .string()
      .regex(/^[\w+=,.@:/-]{2,1224}$/, 'letters, digits and +=,.@:/_- (2–1224 characters)')
      .optional()
      .describe("External id the role's trust policy requires."),
  })
  .strict();

export const destinationSchema = z
  .object({
    accessPointArn: accessPointArn
      .optional()
      .describe("The client's S3 access point; copies go through it. One of accessPointArn or bucket is required."),
    bucket: bucketName.optional().describe("The client's bucket, when no access point is used."),
    expectedOwnerAccountId: accountId.describe(
      "Account that owns the client's bucket; every call sends it as ExpectedBucketOwner.",
    ),
    keyPrefixTemplate: z
      .string()
      .min(1)
      .default('exports/{cluster}/{date}')
      .describe(
        'Destination key prefix. Placeholders: {cluster}, {date} (yyyy-mm-dd), {dt} (Hive-style dt=yyyy-mm-dd), {runId}.',
      ),
    kmsKeyArn: kmsKeyArn.optional().describe("The client's KMS key: copies are written with SSE-KMS under it."),
    aclMode: z
      .enum(['none', 'bucket-owner-full-control'])
      .default('none')
      .describe(
        '`bucket-owner-full-control` only for client buckets that still use ACLs; `none` for bucket-owner-enforced buckets.',
      ),
  })
  .strict()
  .superRefine(
    (raw, ctx) => {
      // Runs beside type errors of the same object, so it reads the raw input defensively.
      if (raw === null || typeof raw !== 'object') return;
      const d = raw as unknown as Record<string, unknown>;
      const accessPointArn = typeof d.accessPointArn === 'string' ? d.accessPointArn : undefined;
      if (d.accessPointArn === undefined && d.bucket === undefined) {
        ctx.addIssue({ code: 'custom', message: 'set accessPointArn or bucket', path: ['accessPointArn'] });
      }
      if (d.accessPointArn !== undefined && d.bucket !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'set only one of accessPointArn and bucket', path: ['bucket'] });
      }
      const template = typeof d.keyPrefixTemplate === 'string' ? d.keyPrefixTemplate : '';
      const unknown = [...template.matchAll(/\{([^}]*)\}/g)]
        .map((m) => m[1])
        .filter((p) => !['cluster', 'date', 'dt', 'runId'].includes(p));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder(s) ${unknown.map((u) => `{${u}}`).join(', ')}; use {cluster}, {date}, {dt}, {runId}`,
          path: ['keyPrefixTemplate'],
        });
      }
      if (
        accessPointArn &&
        typeof d.expectedOwnerAccountId === 'string' &&
        accessPointArn.split(':')[4] !== d.expectedOwnerAccountId
      ) {
        ctx.addIssue({
          code: 'custom',
          message: "the access point's account must equal expectedOwnerAccountId",
          path: ['expectedOwnerAccountId'],
        });
      }
    },
    { when: () => true },
  );

const stageDeadlineFields = z
  .object({
    restoring: positiveInt.default(120).describe('Minutes a temporary cluster may take to become available.'),
    snapshotting: positiveInt.default(120).describe('Minutes the manual snapshot of the temporary cluster may take.'),
    waitingForExportSlot: positiveInt
      .default(720)
      .describe('Minutes a run may wait for a free export slot (5 per account).'),
    exporting: positiveInt.default(720).describe('Minutes an export task may take.'),
    copying: positiveInt.default(240).describe('Minutes the copy to the destination may take.'),
    cleaningUp: positiveInt.default(60).describe('Minutes the cleanup may take before it is retried and reported.'),
  })
  .strict();

/** The stage deadlines when the configuration sets none: each stage's own default, written once above. */
export const DEFAULT_STAGE_DEADLINES = Object.freeze(stageDeadlineFields.parse({}));

export const stageDeadlinesSchema = stageDeadlineFields.default(DEFAULT_STAGE_DEADLINES);

const pipelineShape = {
  namePrefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, 'lowercase letters, digits and hyphens, starting with a letter')
    .max(20)
    .refine((v) => !v.includes('--'), 'must not contain a double hyphen')
    .describe(
      'Prefix of every resource name, and (with `-tmp-`) of every temporary cluster, snapshot and export task.',
    ),
  region: region.describe('Region of the source clusters; the export bucket is created there.'),
  tags: z
    .record(z.string(), z.string())
    .default({})
    .describe('Tags applied to every resource (provider default_tags).'),
  accountId: accountId
    .optional()
    .describe(
      'AWS account the environment deploys to: the provider refuses credentials of any other account (`allowed_account_ids`). Required for each of `environments`.',
    ),
  assumeRole: assumeRoleSchema
    .optional()
    .describe('Role Terraform assumes in `accountId` to plan and apply (provider `assume_role`).'),
  backend: backendSchema.describe(
    'Terraform backend: `local` (default), `s3`, or `cloud` (HCP Terraform / Terraform Enterprise).',
  ),
  sourceClusters: z.array(sourceClusterSchema).min(1).describe('Aurora clusters to export.'),
  exportRetentionDays: positiveInt
    .max(3650)
    .default(7)
    .describe('Days an export stays in our bucket before it expires.'),
  restore: z
    .object({
      dbSubnetGroupName: z
        .string()
        .min(1)
        .optional()
        .describe("DB subnet group for temporary clusters (default: the source cluster's)."),
      vpcSecurityGroupIds: z
        .array(z.string().regex(/^sg-[0-9a-f]+$/, 'a security group id (sg-...)'))
        .default([])
        .describe(
          "VPC security groups for temporary clusters (default: the source cluster's when `dbSubnetGroupName` is not set either, else the default group of that subnet group's VPC).",
        ),
      engineVersion: z
        .string()
        .min(1)
        .optional()
        .describe("Engine version of temporary clusters (default: the snapshot's)."),
    })
    .strict()
    .default({ vpcSecurityGroupIds: [] })
    .describe('How temporary clusters are restored.'),
  destination: destinationSchema.describe("The client's data lake."),
  tableFailurePolicy: z
    .enum(['fail', 'warn'])
    .default('fail')
    .describe('What a failed or skipped table in the export does to the run.'),
  copy: z
    .object({
      concurrency: positiveInt.max(MAX_COPY_CONCURRENCY).default(16).describe('Objects copied at once by one worker.'),
      maxWorkers: positiveInt
        .max(MAX_COPY_WORKERS)
        .optional()
        .describe(
          `Most copy workers at once: the copy function's reserved concurrency, which also caps the batches sent at once. Default: ${COPY_IN_FLIGHT_BOUND} ÷ concurrency, rounded down (21 at the default concurrency of 16); at most ${MAX_COPY_WORKERS}. maxWorkers × concurrency may not exceed ${COPY_IN_FLIGHT_BOUND}, the copies in flight that keep one destination prefix under S3's 3,500 writes/s at ~100 ms a copy.`,
        ),
      partSizeMiB: positiveInt
        .min(5)
        .max(5120)
        .default(128)
        .describe('Part size for objects above 5 GiB (UploadPartCopy).'),
      batchMaxObjects: positiveInt.default(1000).describe('Most objects in one copy batch.'),
      batchMaxGiB: z.number().positive().default(50).describe('Most bytes (GiB) in one copy batch.'),
    })
    .strict()
    .default({ concurrency: 16, partSizeMiB: 128, batchMaxObjects: 1000, batchMaxGiB: 50 }),
  notifications: z
    .object({
      emails: z.array(z.email()).default([]).describe('Addresses subscribed to the alerts topic.'),
      topicArn: snsTopicArn
        .optional()
        .describe('An existing SNS topic to send alerts to, in addition to the created one.'),
      notifyOnSuccess: z.boolean().default(true).describe('Send a short message when a run succeeds.'),
    })
    .strict()
    .default({ emails: [], notifyOnSuccess: true }),
  reconcilerPeriodMinutes: positiveInt.max(1440).default(15).describe('How often the reconciler looks at open runs.'),
  stageDeadlinesMinutes: stageDeadlinesSchema.describe('Per-stage deadlines; a run past one fails and is cleaned up.'),
  orphanGraceMinutes: positiveInt
    .default(240)
    .describe('Age after which a tagged temporary resource with no live run is deleted.'),
  runRetentionDays: positiveInt.default(90).describe('Days a finished run stays in the run table (DynamoDB TTL).'),
  logRetentionDays: z
    .union(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653].map(
        (n) => z.literal(n),
      ) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>, ...z.ZodLiteral<number>[]],
    )
    .default(30)
    .describe('CloudWatch Logs retention of every function.'),
  lambda: z
    .object({
      memoryMiB: positiveInt.min(128).max(10240).default(512).describe('Memory of every stage function.'),
      timeoutSeconds: positiveInt.max(900).default(300).describe('Timeout of every stage function.'),
    })
    .strict()
    .default({ memoryMiB: 512, timeoutSeconds: 300 }),
};

/** A string field of a value that may not have the expected shape (cross-field checks run on invalid input too). */
function str(o: unknown, key: string): string | undefined {
  const v = o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function obj(o: unknown, key: string): Record<string, unknown> | undefined {
  const v = o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined;
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Identifiers of the configured source clusters that are strings, with their index. */
function clusterIdentifiers(c: unknown): { identifier: string; index: number }[] {
  const list = c !== null && typeof c === 'object' ? (c as Record<string, unknown>).sourceClusters : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((s, index) => {
    const identifier = str(s, 'identifier');
    return identifier ? [{ identifier, index }] : [];
  });
}

/** Checks that span several keys of one environment; they read the raw input, so they run beside type errors. */
function checkEnvironment(c: unknown, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const { identifier, index } of clusterIdentifiers(c)) {
    if (seen.has(identifier.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `cluster ${identifier} is listed twice`,
        path: ['sourceClusters', index, 'identifier'],
      });
    }
    seen.add(identifier.toLowerCase());
  }
  const copy = obj(c, 'copy');
  const concurrency = typeof copy?.concurrency === 'number' ? copy.concurrency : 16;
  const workers = typeof copy?.maxWorkers === 'number' ? copy.maxWorkers : undefined;
  // Only a worker count that is valid by itself is weighed against the concurrency: one problem at a time.
  if (
    workers !== undefined &&
    Number.isInteger(workers) &&
    workers <= MAX_COPY_WORKERS &&
    workers * concurrency > COPY_IN_FLIGHT_BOUND
  ) {
    ctx.addIssue({
      code: 'custom',
      message: `${workers} workers × ${concurrency} objects at once = ${workers * concurrency} copies in flight, about ${workers * concurrency * 10} writes/s to one destination prefix at ~100 ms a copy, past the 3,500 writes/s S3 sustains per prefix: keep maxWorkers × concurrency at most ${COPY_IN_FLIGHT_BOUND} (maxWorkers ≤ ${Math.max(1, Math.floor(COPY_IN_FLIGHT_BOUND / concurrency))} here)`,
      path: ['copy', 'maxWorkers'],
    });
  }
  const account = str(c, 'accountId');
  const roleArn = str(obj(c, 'assumeRole'), 'roleArn');
  if (account && roleArn && /^arn:[^:]+:iam::\d{12}:/.test(roleArn) && roleArn.split(':')[4] !== account) {
    ctx.addIssue({
      code: 'custom',
      message: `the role to assume must be in the environment's account ${account}, else every plan fails the account guard`,
      path: ['assumeRole', 'roleArn'],
    });
  }
  const backend = obj(c, 'backend');
  if (backend?.type === 's3') {
    if (backend.encrypt === false && str(backend, 'kmsKeyArn')) {
      ctx.addIssue({
        code: 'custom',
        message: 'a state KMS key needs encrypt: true',
        path: ['backend', 'kmsKeyArn'],
      });
    }
    if (backend.useLockfile === false && !str(backend, 'dynamodbTable')) {
      ctx.addIssue({
        code: 'custom',
        message: 'state without a lock: keep useLockfile true, or name a dynamodbTable',
        path: ['backend', 'useLockfile'],
      });
    }
  }
}

/**
 * One environment's configuration in the single-environment form of the file (the form before environments
 * existed): `accountId` is optional there, and the stack is named `pipeline`.
 */
export const configSchema = z
  .object(pipelineShape)
  .strict()
  .superRefine(checkEnvironment, { when: () => true });

/** One entry of `environments`: an environment always states its account. */
export const environmentSchema = z
  .object({
    ...pipelineShape,
    accountId: accountId.describe(
      'AWS account the environment deploys to: the provider refuses credentials of any other account (`allowed_account_ids`).',
    ),
  })
  .strict()
  .superRefine(checkEnvironment, { when: () => true });

/** Environment names: they name the cdktf stack (`cdktf.out/stacks/<name>`) and select it on every command line. */
export const environmentName = z
  .string()
  .regex(
    /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/,
    'lowercase letters, digits and hyphens, starting with a letter, at most 32',
  );

/** Where an environment keeps its state, as one comparable string; undefined for a local path inside its folder. */
function stateLocation(backend: Record<string, unknown> | undefined): string | undefined {
  const type = backend?.type ?? 'local';
  if (type === 'local') {
    const path = str(backend, 'path') ?? 'terraform.tfstate';
    return path.startsWith('/') ? `local file ${path}` : undefined;
  }
  if (type === 's3') return `s3://${str(backend, 'bucket') ?? ''}/${str(backend, 'key') ?? ''}`;
  if (type === 'cloud')
    return `workspace ${str(backend, 'hostname') ?? 'app.terraform.io'}/${str(backend, 'organization') ?? ''}/${str(backend, 'workspace') ?? ''}`;
  return undefined;
}

/** Checks between environments: nothing one deploys may collide with another's names, state or deliveries. */
function checkEnvironments(file: unknown, ctx: z.RefinementCtx): void {
  const envs = obj(file, 'environments');
  if (!envs) return;
  const names = Object.keys(envs);
  const firstBy = new Map<string, string>();
  const claim = (kind: string, value: string | undefined, name: string, path: PropertyKey[], message: string) => {
    if (value === undefined) return;
    const key = `${kind}\u0000${value}`;
    const owner = firstBy.get(key);
    if (owner === undefined) firstBy.set(key, name);
    else
      ctx.addIssue({
        code: 'custom',
        message: `${message} as environment ${owner}`,
        path: ['environments', name, ...path],
      });
  };
  for (const name of names) {
    const env = envs[name];
    const prefix = str(env, 'namePrefix');
    claim('prefix', prefix, name, ['namePrefix'], `namePrefix "${prefix}" names the same resources`);
    const state = stateLocation(obj(env, 'backend'));
    claim('state', state, name, ['backend'], `state ${state} is the same`);
    const account = str(env, 'accountId');
    const region = str(env, 'region');
    for (const { identifier, index } of clusterIdentifiers(env)) {
      claim(
        'cluster',
        account && region ? `${account}/${region}/${identifier.toLowerCase()}` : undefined,
        name,
        ['sourceClusters', index, 'identifier'],
        `cluster ${identifier} in ${account}/${region} would be exported twice: it is also a source of the same account and region`,
      );
    }
  }
}

/**
 * The configuration file: every environment of the app, each deployed as its own cdktf stack with its own
 * state. `$schema` lets editors validate and complete the file.
 */
export const configFileSchema = z
  .object({
    $schema: z.string().optional().describe('JSON Schema of this file, for editors (`./pipeline.schema.json`).'),
    environments: z
      .record(environmentName, environmentSchema)
      .refine((e) => Object.keys(e).length > 0, 'at least one environment')
      .describe('Environments by name; each is its own cdktf stack, selected by its name.'),
  })
  .strict()
  .superRefine(checkEnvironments, { when: () => true });

/** The configuration as written in the file (defaults optional). */
export type PipelineConfigInput = z.input<typeof configSchema>;
/** The configuration after validation, with every default filled in. */
export type PipelineConfig = z.output<typeof configSchema>;
export type SourceClusterConfig = z.output<typeof sourceClusterSchema>;
export type DestinationConfig = z.output<typeof destinationSchema>;
