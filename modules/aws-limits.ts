/**
 * The AWS limits the synthesized stack must fit, each as AWS documents it (docs/aws-behaviours.md says where),
 * and the synth-time check against them: sizes are measured the way AWS counts them, with every Terraform
 * token replaced by the longest value it can resolve to, so a stack that passes here fits when applied.
 */

/** One documented AWS limit. */
export interface AwsLimit {
  /** What AWS limits, as its documentation names it. */
  readonly name: string;
  readonly max: number;
  readonly unit: string;
}

/** Every limit the stack is checked against. */
export const AWS_LIMITS = {
  lambdaEnvironment: {
    name: "Lambda's environment variables limit (all variables of a function, in aggregate)",
    max: 4096,
    unit: 'bytes',
  },
  lambdaZippedPackage: {
    name: "Lambda's deployment package limit (zipped, direct upload)",
    max: 50 * 1024 * 1024,
    unit: 'bytes',
  },
  lambdaUnzippedPackage: {
    name: "Lambda's deployment package limit (unzipped)",
    max: 250 * 1024 * 1024,
    unit: 'bytes',
  },
  roleInlinePolicies: {
    name: "IAM's role policy size limit (all inline policies of a role, whitespace excluded)",
    max: 10_240,
    unit: 'characters',
  },
  managedPolicySize: {
    name: "IAM's managed policy size limit (whitespace excluded)",
    max: 6_144,
    unit: 'characters',
  },
  managedPoliciesPerRole: {
    name: "IAM's managed policies attached per role quota (the default; it can be raised)",
    max: 10,
    unit: 'policies',
  },
  snsFilterPolicySize: { name: "SNS's filter policy size limit", max: 256 * 1024, unit: 'bytes' },
  snsFilterPolicyCombinations: {
    name: "SNS's filter policy complexity limit (the product of the number of values in each array)",
    max: 150,
    unit: 'combinations',
  },
  snsFilterPolicyKeys: { name: "SNS's filter policy key limit", max: 5, unit: 'keys' },
  tagsPerResource: { name: 'the limit of user tags per resource', max: 50, unit: 'tags' },
  tagKeyLength: { name: 'the tag key length limit', max: 128, unit: 'characters' },
  tagValueLength: { name: 'the tag value length limit', max: 256, unit: 'characters' },
  s3AccessPointPolicy: {
    name: "S3's access point policy size limit (the client's policy holds these statements and its own)",
    max: 20 * 1024,
    unit: 'bytes',
  },
  s3BucketPolicy: {
    name: "S3's bucket policy size limit (the client's policy holds these statements and its own)",
    max: 20 * 1024,
    unit: 'bytes',
  },
  kmsKeyPolicy: { name: "KMS's key policy size limit", max: 32 * 1024, unit: 'bytes' },
} as const satisfies Record<string, AwsLimit>;

/** A value past a limit: which limit, what went past it, by how much, and what in the configuration drives it. */
export interface LimitProblem {
  readonly limit: AwsLimit;
  /** What is measured, e.g. `the start function's role`. */
  readonly subject: string;
  readonly value: number;
  /** What in the configuration makes it grow, e.g. `100 source clusters`. */
  readonly cause?: string;
}

/** A configuration whose stack would go past AWS limits; the message lists every problem, one a line. */
export class AwsLimitError extends Error {
  public override readonly name = 'AwsLimitError';
  constructor(public readonly problems: readonly LimitProblem[]) {
    super(
      `The configuration goes past AWS limits (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map(describeProblem).join('\n'),
    );
  }
}

function describeProblem(p: LimitProblem): string {
  const cause = p.cause ? ` (${p.cause})` : '';
  return `  - ${p.subject}: ${p.value} ${p.limit.unit}, over ${p.limit.name} of ${p.limit.max} ${p.limit.unit}${cause}`;
}

/**
 * The longest value any other token in a policy or environment resolves to: they are names and ARNs of this
 * stack's resources, whose names derive from `namePrefix` (at most 20 characters); the longest, a log group
 * ARN in the longest partition and region, is about 110 characters.
 */
export const MAX_RESOLVED_REFERENCE_LENGTH = 160;

/** A token (as it appears in a string at synth) and the longest value it resolves to. */
export interface TokenBound {
  readonly token: string;
  readonly maxLength: number;
}

const TOKEN = /\$\{TfToken\[[^\]]+\]\}/g;

/**
 * Checks values against {@link AWS_LIMITS} and collects every problem, so one synth lists them all.
 * Sizes of strings holding Terraform tokens are measured with each token at its longest resolved value.
 */
export class LimitChecks {
  private readonly found: LimitProblem[] = [];

  /** @param bounds tokens whose longest value is known (account id, partition, region); others count as {@link MAX_RESOLVED_REFERENCE_LENGTH}. */
  constructor(private readonly bounds: readonly TokenBound[] = []) {}

  /** The longest `text` can be once Terraform resolved it: UTF-8 bytes, or characters with whitespace removed. */
  public resolvedSize(text: string, how: 'bytes' | 'characters without whitespace'): number {
    let rest = text;
    let extra = 0;
    for (const b of this.bounds) {
      if (!b.token) continue;
      const parts = rest.split(b.token);
      extra += (parts.length - 1) * b.maxLength;
      rest = parts.join('');
    }
    const references = rest.match(TOKEN)?.length ?? 0;
    rest = rest.replace(TOKEN, '');
    extra += references * MAX_RESOLVED_REFERENCE_LENGTH;
    return (how === 'bytes' ? Buffer.byteLength(rest) : rest.replace(/\s/g, '').length) + extra;
  }

  /** Records a problem when `value` is past the limit; returns whether it fits. */
  public check(limit: AwsLimit, subject: string, value: number, cause?: string): boolean {
    if (value <= limit.max) return true;
    this.found.push({ limit, subject, value, cause });
    return false;
  }

  public get problems(): readonly LimitProblem[] {
    return this.found;
  }

  /** Throws an {@link AwsLimitError} listing every problem found, if any. */
  public assertWithinLimits(): void {
    if (this.found.length > 0) throw new AwsLimitError(this.found);
  }
}
