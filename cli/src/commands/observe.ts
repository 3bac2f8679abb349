// The observability commands: events, logs, exec, top (docs/observability.md).
import type { Command } from 'commander';
import { registerEvents } from './events.js';
import { registerExec } from './exec.js';
import { registerLogs } from './logs.js';
import { registerTop } from './top.js';

export function registerObserve(program: Command): void {
  registerEvents(program);
  registerLogs(program);
  registerExec(program);
  registerTop(program);
}
