import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './processes.js';

export interface ProcfileEntry {
  /** The process type: `release`, `web`, … */
  type: string;
  /** The command line as written. */
  command: string;
  /** The `patternwire` sub-command it runs (`node dist/cli.js <sub>` → `<sub>`). */
  subcommand: string;
}

/**
 * The project's Procfile, each entry mapped to the `patternwire` sub-command it runs, so a test
 * can start the same processes (`node dist/cli.js <sub>`). Fails on a
 * line that does not run the CLI: then the test would no longer be testing the Procfile.
 */
export function readProcfile(file = path.join(PROJECT_ROOT, 'Procfile')): Map<string, ProcfileEntry> {
  const entries = new Map<string, ProcfileEntry>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(line);
    if (!m) throw new Error(`Procfile: cannot read line "${line}"`);
    const [, type, command] = m as unknown as [string, string, string];
    const cli = /^(?:node\s+dist\/cli\.js|patternwire|npx\s+patternwire)\s+(\S+)$/.exec(command.trim());
    if (!cli) throw new Error(`Procfile: "${type}" does not run the patternwire CLI: "${command}"`);
    entries.set(type, { type, command, subcommand: cli[1]! });
  }
  return entries;
}
