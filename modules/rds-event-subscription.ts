import { Construct } from 'constructs';
import { DbEventSubscription } from '@cdktf/provider-aws/lib/db-event-subscription';
import type { ITerraformDependable } from 'cdktf';

/**
 * Event categories the pipeline listens to, per RDS source type (Aurora event table):
 * - db-cluster-snapshot: `backup` carries RDS-EVENT-0169 (automated snapshot created) and 0075 (manual snapshot
 *   created); `notification` carries 0162/0163/0164 (snapshot export failed/canceled/completed).
 * - db-cluster: `creation` carries 0170 (cluster created, also after a restore); `notification` carries
 *   0234/0235/0236 (cluster export failed/canceled/completed).
 * The functions' SNS filter policies pick the exact event ids out of these.
 */
export const RDS_EVENT_SOURCES = {
  'db-cluster-snapshot': ['backup', 'notification'],
  'db-cluster': ['creation', 'notification'],
} as const;

/** Props of {@link RdsEventSubscription}. */
export interface RdsEventSubscriptionProps {
  readonly namePrefix: string;
  /** The RDS events topic. */
  readonly topicArn: string;
  /** Resources RDS needs in place before it accepts the subscription (the topic policy). */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * RDS event subscriptions for cluster snapshots and clusters, into the RDS events topic. They cannot be narrowed
 * to our clusters (snapshot events of any cluster arrive; temporary clusters have run-specific names), so the
 * stage functions decide what is theirs.
 */
export class RdsEventSubscription extends Construct {
  public readonly subscriptions: DbEventSubscription[];

  constructor(scope: Construct, id: string, props: RdsEventSubscriptionProps) {
    super(scope, id);
    this.subscriptions = Object.entries(RDS_EVENT_SOURCES).map(
      ([sourceType, categories]) =>
        new DbEventSubscription(this, sourceType, {
          name: `${props.namePrefix}-${sourceType}`,
          snsTopic: props.topicArn,
          sourceType,
          eventCategories: [...categories],
          enabled: true,
          dependsOn: props.dependsOn,
        }),
    );
  }
}
