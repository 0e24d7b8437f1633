import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'migrations' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const SQL_WORDS = /\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|ALTER|WHERE|VALUES|ORDER BY|LIMIT)\b/;

/**
 * Interpolations allowed in SQL text: a list of `?` placeholders, and pragma values that
 * the code itself validated (an enum of the configuration, a number).
 */
const ALLOWED = [
  /^placeholders\([^)]*\)$/,
  /^options\.synchronous \?\? 'NORMAL'$/,
  /^options\.busyTimeoutMs \?\? \d+$/,
];

interface Finding {
  file: string;
  expression: string;
  text: string;
}

/** Template literals that look like SQL and interpolate something other than placeholders. */
function findInterpolatedSql(file: string, source: string): Finding[] {
  const findings: Finding[] = [];
  const template = /(\w*)\s*`((?:[^`\\]|\\.)*)`/gs;
  for (const match of source.matchAll(template)) {
    const [, tag, body] = match;
    if (tag === 'sql') continue; // drizzle's sql`` binds its values as parameters
    const isPragma = /\.pragma\(\s*$/.test(source.slice(Math.max(0, match.index - 20), match.index + tag.length));
    if (!isPragma && !SQL_WORDS.test(body)) continue;
    for (const [, expression] of body.matchAll(/\$\{([^}]*)\}/g)) {
      if (ALLOWED.some((re) => re.test(expression.trim()))) continue;
      findings.push({ file: relative(SRC, file), expression, text: body.slice(0, 120) });
    }
  }
  return findings;
}

describe('SQL', () => {
  it('is parameterised everywhere: values go through placeholders, never into the text', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(10);
    const findings = files.flatMap((file) => findInterpolatedSql(file, readFileSync(file, 'utf8')));
    expect(findings).toEqual([]);
  });

  it('the scan finds a value built into SQL text', () => {
    const bad = 'db.prepare(`SELECT * FROM series WHERE key = \'${key}\'`).get();';
    expect(findInterpolatedSql('bad.ts', bad).map((f) => f.expression)).toEqual(['key']);
    const pragma = 'sqlite.pragma(`max_page_count = ${userValue}`);';
    expect(findInterpolatedSql('bad.ts', pragma).map((f) => f.expression)).toEqual(['userValue']);
    const fine = 'db.prepare(`SELECT * FROM event_log WHERE type IN (${placeholders(types.length)})`)';
    expect(findInterpolatedSql('fine.ts', fine)).toEqual([]);
  });
});
