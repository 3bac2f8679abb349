// The project's one logger: structured JSON lines (pino), each with the component or loop name.
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(): Logger {
  if (!root) {
    root = pino({
      level: process.env['BERTH_LOG_LEVEL'] ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    });
  }
  return root;
}

/** A child logger whose every line names the component (`controller`, `agent`, ...) and loop. */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

/** A logger that writes nothing: for unit tests and pure helpers that take a Logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
