import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a V8 .cpuprofile the summary reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** One frame's self time. */
export interface Frame {
  name: string;
  location: string;
  selfMs: number;
  share: number;
}

/** Where a frame lives, shortened to the package or the repository path. */
export function shortLocation(url: string, line: number): string {
  if (!url) return '';
  if (url.startsWith('node:')) return `${url}:${line + 1}`;
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
  if (pkg) return `${pkg[1]}/${pkg[2].split('/').pop()}:${line + 1}`;
  // tsx compiles TypeScript on load, so line numbers of repository files are the compiled ones: name the file only.
  const repo = /\/(src|scripts)\/(.*)$/.exec(path);
  if (repo) return `${repo[1]}/${repo[2]}`;
  return `${path.split('/').slice(-2).join('/')}:${line + 1}`;
}

/** Frames the summary leaves out: time the thread was waiting, not working. */
const IDLE_FRAMES = new Set(['(idle)']);

/** Frames by self time, highest first; shares are of busy (non-idle) time. Time deltas are in microseconds. */
export function topFrames(profile: CpuProfile, limit = 15): Frame[] {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFrame = new Map<string, Frame>();
  let total = 0;
  for (const node of profile.nodes) {
    const name = node.callFrame.functionName || '(anonymous)';
    if (IDLE_FRAMES.has(name)) continue;
    const us = selfUs.get(node.id) ?? 0;
    total += us;
    const location = shortLocation(node.callFrame.url, node.callFrame.lineNumber);
    const key = `${name}@${location}`;
    const frame = byFrame.get(key) ?? { name, location, selfMs: 0, share: 0 };
    frame.selfMs += us / 1000;
    byFrame.set(key, frame);
  }
  const frames = [...byFrame.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, limit);
  for (const f of frames) f.share = total > 0 ? (f.selfMs * 1000) / total : 0;
  return frames;
}

/**
 * Summaries of the main-thread .cpuprofile files in a folder. Node names them
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread
 * (tsx's module loader runs in another).
 */
export function summarizeProfiles(dir: string, limit = 15): { file: string; frames: Frame[] }[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  } catch {
    return [];
  }
  return files.map((file) => ({
    file: join(dir, file),
    frames: topFrames(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, limit),
  }));
}

/** Frames as text lines: share, self ms, name, location. */
export function formatFrames(frames: readonly Frame[]): string[] {
  return frames.map(
    (f) => `${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.location}`,
  );
}

/** The pid in a profile's file name (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, or .heapprofile). */
export function pidOfProfile(file: string): number | undefined {
  const match = /\.(\d+)\.\d+\.\d+\.(?:cpu|heap)profile$/.exec(file);
  return match ? Number(match[1]) : undefined;
}

/** The parts of a V8 sampling heap profile the summary reads: a tree of call frames with the bytes allocated in each. */
export interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapProfileNode[];
}

/** One allocation site: the bytes sampled as allocated in a function itself. */
export interface AllocationSite {
  name: string;
  location: string;
  mb: number;
  share: number;
}

/** Allocation sites by bytes, highest first; shares are of all bytes sampled. */
export function topAllocations(profile: { head: HeapProfileNode }, limit = 15): AllocationSite[] {
  const bySite = new Map<string, AllocationSite>();
  let total = 0;
  const pending = [profile.head];
  for (let node = pending.pop(); node; node = pending.pop()) {
    pending.push(...node.children);
    if (node.selfSize === 0) continue;
    total += node.selfSize;
    const name = node.callFrame.functionName || '(anonymous)';
    const location = shortLocation(node.callFrame.url, node.callFrame.lineNumber);
    const key = `${name}@${location}`;
    const site = bySite.get(key) ?? { name, location, mb: 0, share: 0 };
    site.mb += node.selfSize / 1e6;
    bySite.set(key, site);
  }
  const sites = [...bySite.values()].sort((a, b) => b.mb - a.mb).slice(0, limit);
  for (const s of sites) s.share = total > 0 ? (s.mb * 1e6) / total : 0;
  return sites;
}

/** Summaries of the main-thread allocation profiles (Heap.*.heapprofile) in a folder. */
export function summarizeAllocations(dir: string, limit = 15): { file: string; sites: AllocationSite[]; totalMb: number }[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.heapprofile$/.test(f));
  } catch {
    return [];
  }
  return files.map((file) => {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { head: HeapProfileNode; samples?: { size: number }[] };
    const totalMb = (profile.samples ?? []).reduce((sum, s) => sum + s.size, 0) / 1e6;
    return { file: join(dir, file), sites: topAllocations(profile, limit), totalMb };
  });
}

/** Allocation sites as text lines: share, MB, name, location. */
export function formatAllocations(sites: readonly AllocationSite[]): string[] {
  return sites.map((s) => `${(s.share * 100).toFixed(1).padStart(5)}%  ${s.mb.toFixed(0).padStart(7)} MB  ${s.name}  ${s.location}`);
}

/** Profile summaries as Markdown: one table of top frames per phase and process. */
export function formatProfilesMarkdown(
  profiles: Record<string, { file: string; process?: string; frames: Frame[] }[]>,
  heading: string,
): string {
  const lines = [heading, ''];
  for (const [phase, files] of Object.entries(profiles)) {
    for (const { frames, process } of files) {
      lines.push(`Phase \`${phase}\`${process ? `, ${process}` : ''}:`, '', '| share | self ms | function | where |', '| ---: | ---: | --- | --- |');
      for (const f of frames) lines.push(`| ${(f.share * 100).toFixed(1)}% | ${f.selfMs.toFixed(0)} | \`${f.name}\` | ${f.location || '(native)'} |`);
      lines.push('');
    }
  }
  return lines.join('\n').trimEnd();
}
