/** Reads V8 .cpuprofile files and names where the time went (self time by function and file). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const shortUrl = (url: string) => {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const src = u.indexOf('/src/');
  return src >= 0 ? u.slice(src + 1) : u || '(native)';
};

/** Package (or src/ file) of a frame, for the coarse view. */
const ownerOf = (url: string) => {
  const s = shortUrl(url);
  if (s.startsWith('src/')) return s;
  if (s.startsWith('node:') || s === '(native)') return s === '(native)' ? '(native/V8)' : 'node internals';
  const parts = s.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
};

/** `skipMs`: leave out the first milliseconds of the profile (start-up: module loading under tsx). */
export function summarizeProfile(file: string, top = 15, skipMs = 0): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const selfMs = new Map<number, number>();
  // Self time per node from samples and their time deltas (µs); a sample's time is the running sum.
  let t = profile.startTime;
  let firstCounted: number | null = null;
  if (profile.samples && profile.timeDeltas) {
    profile.samples.forEach((id, k) => {
      const delta = profile.timeDeltas![k] ?? 0;
      t += delta;
      if (t - profile.startTime < skipMs * 1000) return;
      firstCounted ??= t;
      selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
    });
  }
  const totalMs = (profile.endTime - (firstCounted ?? profile.startTime)) / 1000;
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let idle = 0;
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      if (functionName === '(idle)') idle += ms;
      else byFunction.set(functionName, (byFunction.get(functionName) ?? 0) + ms);
      if (functionName !== '(idle)') byOwner.set(functionName, (byOwner.get(functionName) ?? 0) + ms);
      continue;
    }
    const key = `${functionName || '(anonymous)'}  ${shortUrl(url)}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    byOwner.set(ownerOf(url), (byOwner.get(ownerOf(url)) ?? 0) + ms);
  }
  const busy = totalMs - idle;
  const fmt = (entries: Map<string, number>) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => `    ${ms.toFixed(0).padStart(7)} ms  ${((ms / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return [
    `${path.basename(path.dirname(file))}/${path.basename(file)}: ${(totalMs / 1000).toFixed(1)} s profiled${skipMs ? ` (after skipping the first ${(skipMs / 1000).toFixed(1)} s: start-up)` : ''}, ${(busy / 1000).toFixed(1)} s on CPU`,
    `  by package / file (self time):`,
    fmt(byOwner),
    `  by function (self time):`,
    fmt(byFunction),
  ].join('\n');
}

/** Every .cpuprofile under `dir` (one level of sub-directories: one per process). */
export function summarizeProfiles(dir: string, top = 15, skipMs = 0): string {
  let files: string[];
  try {
    files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort();
  } catch {
    return `no profiles in ${dir}`;
  }
  if (!files.length) return `no profiles in ${dir} (a process killed before it could exit writes none)`;
  return files.map((f) => summarizeProfile(path.join(dir, f), top, skipMs)).join('\n\n');
}
