/**
 * The alert of a finished run, delivered at least once: it is published after the run's final write and
 * then confirmed on the run (`alertSentAt`). A crash between the final write and the confirmation leaves
 * the alert owed, and the reconciler sends it again; a crash after publishing and before confirming can
 * therefore repeat an alert, never lose one.
 */
import { RunStage, isTerminal, type Run } from '../domain/run';
import { alertFor } from '../domain/report';
import { StaleTransition, errorMessage, errorName } from '../errors';
import type { RuntimeSettings } from '../contracts/settings';
import type { StageDeps } from '../runtime/stage-deps';

/** How many times the reconciler sends an unconfirmed alert again before it gives up on it. */
export const MAX_ALERT_REDELIVERIES = 3;

/** What sending an alert needs. */
export type RunAlertDeps = Pick<StageDeps, 'settings' | 'store' | 'alerts' | 'logger' | 'now'>;

/** True when `run` is finished, its alert is wanted (failures always; successes when configured) and not yet confirmed. */
export function alertOwed(settings: Pick<RuntimeSettings, 'notifyOnSuccess'>, run: Run): boolean {
  if (!isTerminal(run.stage) || run.alertSentAt) return false;
  return run.stage !== RunStage.SUCCEEDED || settings.notifyOnSuccess;
}

/**
 * Publishes the alert of a finished run, then records `alertSentAt`. A failed confirmation is logged, not
 * thrown: the alert is out, and the worst outcome is that the reconciler sends it once more.
 */
export async function sendRunAlert(d: RunAlertDeps, run: Run): Promise<void> {
  const { subject, text } = alertFor(d.settings.namePrefix, run);
  await d.alerts.alert(subject, text);
  try {
    await d.store.update(run.runId, { set: { alertSentAt: d.now().toISOString() }, ifStage: run.stage });
  } catch (e) {
    d.logger.warn('alert sent but not recorded; the reconciler may send it again', {
      error: errorName(e),
      message: errorMessage(e),
    });
  }
}

/**
 * Sends an owed alert again, at most {@link MAX_ALERT_REDELIVERIES} times per run: the attempt is counted
 * on the run first, on the condition that the alert is still unconfirmed and under the cap, so repeated
 * reconciler passes cannot flood the alert topics. Returns false when there was nothing to send.
 */
export async function redeliverRunAlert(d: RunAlertDeps, run: Run): Promise<boolean> {
  if (!alertOwed(d.settings, run)) return false;
  let claimed: Run;
  try {
    claimed = await d.store.update(run.runId, {
      add: { alertRedeliveries: 1 },
      ifStage: run.stage,
      condition: {
        expression: 'attribute_not_exists(#cSent) AND (attribute_not_exists(#cCount) OR #cCount < :cMax)',
        names: { '#cSent': 'alertSentAt', '#cCount': 'alertRedeliveries' },
        values: { ':cMax': MAX_ALERT_REDELIVERIES },
      },
    });
  } catch (e) {
    if (e instanceof StaleTransition) return false;
    throw e;
  }
  d.logger.warn('alert of a finished run was never confirmed; sending it again', {
    stage: run.stage,
    redelivery: claimed.alertRedeliveries,
  });
  await sendRunAlert(d, claimed);
  return true;
}
