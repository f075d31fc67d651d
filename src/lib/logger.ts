export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Plain functions, not methods: `logger.warn` may be handed on on its own (no `this`). */
export interface Logger {
  debug: (message: string) => void;
  info: (message: string) => void;
  warn: (message: string) => void;
  error: (message: string) => void;
}

type Sink = (level: Exclude<LogLevel, 'silent'>, message: string) => void;

const toConsole: Sink = (level, message) =>
  level === 'error' || level === 'warn' ? console.error(message) : console.log(message);

/** Lines below `level` are dropped; the sink decides where the rest go (the console by default). */
export function createLogger(level: LogLevel, sink: Sink = toConsole): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: Exclude<LogLevel, 'silent'>) => (LOG_LEVELS.indexOf(l) >= min ? (m: string) => sink(l, m) : () => {});
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Repeats of the same failure (a reconnect loop) are said once per `intervalMs`. */
export function throttled(log: (message: string) => void, intervalMs = 5_000): (message: string) => void {
  let last = 0;
  return (message) => {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      log(message);
    }
  };
}
