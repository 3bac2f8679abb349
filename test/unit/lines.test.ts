import { describe, expect, it } from 'vitest';
import { jsonLines, lineSplitter } from '../../proto/src/lines.js';

describe('lineSplitter and jsonLines', () => {
  it('joins chunks cut anywhere back into whole lines, in order, and keeps a partial last line', () => {
    const got: string[] = [];
    const feed = lineSplitter((l) => got.push(l));
    for (const c of ['ab', 'c\nde', 'f\n\ng', 'h']) feed(Buffer.from(c));
    expect(got).toEqual(['abc', 'def', '']);
    feed('\n');
    expect(got).toEqual(['abc', 'def', '', 'gh']);
  });

  it('parses each JSON line and skips blank and broken ones', () => {
    const got: unknown[] = [];
    const feed = jsonLines((v) => got.push(v));
    feed('{"a":1}\n  \n{"b":');
    feed('2}\nnot json\n{"c":3}\n');
    expect(got).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });
});
