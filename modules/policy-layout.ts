import { policyJson, type Statement } from './iam';

/**
 * How a role's statements are laid out between its inline policy and managed policies, so that each fits IAM's
 * size limits: everything stays inline while it fits; past that, the largest statements (those naming every
 * configured cluster, which grow with the configuration) move to managed policies, and a statement too large
 * for one managed policy is split by resource into statements with the same actions and condition. A role
 * authorizes a request when any of its policies allows it, so the split grants exactly what the whole did.
 */

/** The statements of each policy of a role. */
export interface PolicyLayout {
  readonly inline: readonly Statement[];
  /** Each managed policy's statements, in order. */
  readonly managed: readonly (readonly Statement[])[];
}

/** Budgets in characters as IAM counts them (whitespace excluded), and how a rendered policy is measured. */
export interface LayoutBudget {
  readonly inlineMax: number;
  readonly managedMax: number;
  /** Size of a rendered policy document as IAM counts it, tokens at their longest. */
  readonly sizeOf: (policyJson: string) => number;
}

const sizeOfStatements = (statements: readonly Statement[], budget: LayoutBudget) =>
  budget.sizeOf(policyJson(statements));

function resourcesOf(s: Statement): string[] {
  return s.Resource === undefined ? [] : [...new Set([s.Resource].flat())].sort();
}

/** Lays out a role's statements; see the module comment. Deterministic: the same statements, the same layout. */
export function layoutPolicies(statements: readonly Statement[], budget: LayoutBudget): PolicyLayout {
  if (sizeOfStatements(statements, budget) <= budget.inlineMax) return { inline: statements, managed: [] };

  // Move the largest statements out until the rest fits inline (ties keep the earlier statement inline).
  const bySize = statements
    .map((s, index) => ({ s, index, size: sizeOfStatements([s], budget) }))
    .sort((a, b) => b.size - a.size || b.index - a.index);
  const moved = new Set<number>();
  const inlineNow = () => statements.filter((_, i) => !moved.has(i));
  for (const { index } of bySize) {
    if (sizeOfStatements(inlineNow(), budget) <= budget.inlineMax) break;
    moved.add(index);
  }

  // Pack the moved statements, in their original order, into as few managed policies as fit: a statement
  // too large for the policy being filled is split by resource across it and the next ones.
  const managed: Statement[][] = [];
  let current: Statement[] = [];
  const fits = (candidate: readonly Statement[]) => sizeOfStatements(candidate, budget) <= budget.managedMax;
  const close = () => {
    if (current.length > 0) managed.push(current);
    current = [];
  };
  for (const [index, s] of statements.entries()) {
    if (!moved.has(index)) continue;
    if (fits([...current, s])) {
      current.push(s);
      continue;
    }
    // A statement that fits whole goes in the first earlier policy with room for it (first fit).
    const earlier = managed.find((doc) => fits([...doc, s]));
    if (earlier) {
      earlier.push(s);
      continue;
    }
    const resources = resourcesOf(s);
    if (resources.length <= 1) {
      close();
      current.push(s); // too large even alone: the size check reports it
      continue;
    }
    // Split by resource: fill the current policy, then the next ones.
    let part: string[] = [];
    for (const r of resources) {
      if (fits([...current, { ...s, Resource: [...part, r] }])) {
        part.push(r);
        continue;
      }
      if (part.length > 0) current.push({ ...s, Resource: part });
      close();
      part = [r];
    }
    if (part.length > 0) current.push({ ...s, Resource: part });
  }
  close();
  return { inline: inlineNow(), managed };
}
