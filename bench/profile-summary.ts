/**
 * `npx tsx bench/profile-summary.ts [dir-or-file] [top] [skip-seconds]`: where the CPU time of a
 * profile went, leaving out the first skip-seconds (start-up).
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { summarizeProfile, summarizeProfiles } from './lib/profiles.js';

const target = process.argv[2] ?? fileURLToPath(new URL('./results/profiles/', import.meta.url));
const top = Number(process.argv[3] ?? 20);
const skipMs = Number(process.argv[4] ?? 0) * 1000;
console.log(statSync(target).isDirectory() ? summarizeProfiles(target, top, skipMs) : summarizeProfile(target, top, skipMs));
