/**
 * `client-policy`: the statements the client adds to their access point policy, bucket policy and KMS key
 * policy for our copy role, printed as JSON ready to paste.
 */
import { clientPolicyStatements } from '../../modules/client-policy';
import type { Command } from '../context';
import { StackNotFound } from '../errors';
import { printJson } from '../output';
import { STACK_FIELDS } from '../stack';
import { checkBucketName, checkRoleArn } from '../validate';

export const clientPolicyCommand: Command = {
  name: 'client-policy',
  summary: 'Print the statements the client must add to their access point, bucket and KMS key policies',
  usage: '[--copy-role-arn ARN] [--bucket NAME]',
  options: {
    'copy-role-arn': { type: 'string', description: 'Copy role ARN (default: the stack output copy_role_arn)' },
    bucket: { type: 'string', description: 'Name of the bucket behind the access point (otherwise a placeholder)' },
  },
  async run(ctx, flags) {
    const given = flags['copy-role-arn'] as string | undefined;
    if (given !== undefined) checkRoleArn(given, '--copy-role-arn');
    const bucket = flags.bucket as string | undefined;
    if (bucket !== undefined) checkBucketName(bucket);
    const copyRoleArn = given ?? ctx.stack().info.copyRoleArn;
    if (!copyRoleArn) {
      throw new StackNotFound(
        `The copy role ARN is unknown (${ctx.stack().source}). Deploy the stack, pass --outputs <file>, set ${STACK_FIELDS.copyRoleArn.env}, ` +
          `or pass --copy-role-arn arn:aws:iam::<account>:role/${ctx.config.namePrefix}-copy.`,
      );
    }
    if (given === undefined) checkRoleArn(copyRoleArn, `The copy role ARN from ${ctx.stack().source}`);
    const result = clientPolicyStatements({
      config: ctx.config,
      copyRoleArn,
      destinationBucketName: bucket,
    });
    if (ctx.json) {
      printJson(ctx.io, result);
      return 0;
    }
    const sections: [string, unknown][] = [];
    if (result.accessPointPolicy)
      sections.push([`Access point policy (${ctx.config.destination.accessPointArn})`, result.accessPointPolicy]);
    sections.push([
      `Bucket policy (${ctx.config.destination.bucket ?? 'the bucket behind the access point'})`,
      result.bucketPolicy,
    ]);
    if (result.kmsKeyPolicy)
      sections.push([`KMS key policy (${ctx.config.destination.kmsKeyArn})`, result.kmsKeyPolicy]);
    for (const [title, doc] of sections) {
      ctx.io.out(`# ${title}: add these statements`);
      printJson(ctx.io, doc);
      ctx.io.out('');
    }
    for (const note of result.notes) ctx.io.out(`# Note: ${note}`);
    return 0;
  },
};
