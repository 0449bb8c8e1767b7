/** Every CLI command, in the order `pipeline help` lists them. */
import type { Command } from '../context';
import { clientPolicyCommand } from './client-policy';
import { preflightCommand } from './preflight';
import { runsCommands } from './runs';

export const commands: readonly Command[] = [...runsCommands, preflightCommand, clientPolicyCommand];
