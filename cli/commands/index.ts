/** Every CLI command, in the order `pipeline help` lists them. */
import type { Command } from '../context';
import { clientPolicyCommand } from './client-policy';

export const commands: readonly Command[] = [clientPolicyCommand];
