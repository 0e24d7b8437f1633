import { describe, expect, it } from 'vitest';
import {
  formatProfilesMarkdown,
  pidOfProfile,
  shortLocation,
  topAllocations,
  topFrames,
  type CpuProfile,
  type HeapProfileNode,
} from '../../scripts/bench/profile.js';

const frame = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url, lineNumber: 9 } });

describe('topFrames', () => {
  it('ranks frames by self time summed over samples', () => {
    const profile: CpuProfile = {
      nodes: [
        frame(1, '(root)', ''),
        frame(2, 'observe', 'file:///repo/src/model/features.ts'),
        frame(3, 'run', 'file:///repo/node_modules/better-sqlite3/lib/methods/wrappers.js'),
        frame(4, 'observe', 'file:///repo/src/model/features.ts'),
        frame(5, '(idle)', ''),
      ],
      samples: [2, 3, 3, 4, 2, 1, 5],
      timeDeltas: [1000, 3000, 3000, 1000, 1000, 1000, 50_000],
    };
    const frames = topFrames(profile, 2);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatchObject({ name: 'run', location: 'better-sqlite3/wrappers.js:10', selfMs: 6 });
    expect(frames[0].share).toBeCloseTo(0.6);
    // Two nodes of the same function merge into one frame; idle time is no frame and no share.
    expect(frames[1]).toMatchObject({ name: 'observe', location: 'src/model/features.ts', selfMs: 3 });
    expect(frames[1].share).toBeCloseTo(0.3);
  });
});

describe('shortLocation', () => {
  it('names scoped packages and repository files', () => {
    expect(shortLocation('file:///x/node_modules/@hono/node-server/dist/index.mjs', 0)).toBe('@hono/node-server/index.mjs:1');
    expect(shortLocation('file:///x/src/db/runtime-storage.ts', 41)).toBe('src/db/runtime-storage.ts');
    expect(shortLocation('node:internal/streams/readable', 2)).toBe('node:internal/streams/readable:3');
    expect(shortLocation('', 0)).toBe('');
  });
});

describe('formatProfilesMarkdown', () => {
  it('writes one table per phase with share, self time, name and place', () => {
    const md = formatProfilesMarkdown(
      { '2-import': [{ file: 'x.cpuprofile', frames: [{ name: 'append', location: 'src/db/runtime-storage.ts', selfMs: 1234.4, share: 0.146 }, { name: '(garbage collector)', location: '', selfMs: 99, share: 0.01 }] }] },
      'Profiled run.',
    );
    expect(md).toContain('Phase `2-import`:');
    const labelled = formatProfilesMarkdown({ '5-retrain': [{ file: 'y', process: 'the training child', frames: [] }] }, 'h');
    expect(labelled).toContain('Phase `5-retrain`, the training child:');
    expect(md).toContain('| 14.6% | 1234 | `append` | src/db/runtime-storage.ts |');
    expect(md).toContain('| 1.0% | 99 | `(garbage collector)` | (native) |');
  });
});

describe('pidOfProfile', () => {
  it('reads the pid from the names node and the preload give profiles', () => {
    expect(pidOfProfile('/x/CPU.20261125.090416.23452.0.001.cpuprofile')).toBe(23452);
    expect(pidOfProfile('notes.txt')).toBeUndefined();
  });
});

describe('topAllocations', () => {
  const frame = (functionName: string, url = 'file:///repo/dist/index.js', lineNumber = 9) => ({ functionName, url, lineNumber });
  const node = (name: string, selfSize: number, children: HeapProfileNode[] = [], url?: string): HeapProfileNode => ({
    callFrame: frame(name, url),
    selfSize,
    children,
  });

  it('sums the bytes of each function over the whole call tree, highest first, with shares of all bytes', () => {
    const profile = {
      head: node('(root)', 0, [
        node('save', 300, [node('stringify', 500, [], 'node:internal/x')]),
        node('load', 100, [node('save', 100)]),
      ]),
    };
    const sites = topAllocations(profile, 2);
    expect(sites.map((s) => [s.name, s.location])).toEqual([
      ['stringify', 'node:internal/x:10'],
      ['save', 'dist/index.js:10'],
    ]);
    expect(sites[1].mb).toBeCloseTo(400 / 1e6);
    expect(sites[0].share).toBeCloseTo(0.5);
    expect(sites[1].share).toBeCloseTo(0.4);
  });

  it('are told apart by process like CPU profiles', () => {
    expect(pidOfProfile('/x/Heap.20261201.142700.4242.0.001.heapprofile')).toBe(4242);
  });
});
