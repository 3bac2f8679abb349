// Label selectors of `berth get -l`: the grammar, the matching rules, the errors.
import { describe, expect, it } from 'vitest';
import { formatSelector, matches, parseSelector } from '../../cli/src/selector.js';

describe('parseSelector', () => {
  it('parses every form', () => {
    expect(parseSelector('tier=front, env!=dev,app,!legacy,zone in (b, a),x notin (c),k==v,team.io/owner=ops')).toEqual([
      { key: 'tier', op: 'eq', value: 'front' },
      { key: 'env', op: 'neq', value: 'dev' },
      { key: 'app', op: 'exists' },
      { key: 'legacy', op: 'notexists' },
      { key: 'zone', op: 'in', values: ['a', 'b'] },
      { key: 'x', op: 'notin', values: ['c'] },
      { key: 'k', op: 'eq', value: 'v' },
      { key: 'team.io/owner', op: 'eq', value: 'ops' },
    ]);
    expect(parseSelector('empty=')).toEqual([{ key: 'empty', op: 'eq', value: '' }]);
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty selector/],
    ['a=b,,c', /empty requirement/],
    ['a=b,', /empty requirement/],
    ['=b', /missing label key/],
    ['a=b=c', /"b=c" is not a selector value/],
    ['a b=c', /is not a label key/],
    ['zone in (a,b', /unbalanced "\("/],
    ['zone in a,b)', /unbalanced "\)"/],
    ['zone in ()', /one or more non-empty values/],
    ['-x', /is not a label key/],
  ];
  for (const [text, err] of bad) it(`refuses ${JSON.stringify(text)}`, () => expect(() => parseSelector(text)).toThrow(err));

  it('formats back canonically', () => {
    expect(formatSelector(parseSelector('a=1,b!=2,c,!d,e in (y,x),f notin (z)'))).toBe('a=1,b!=2,c,!d,e in (x,y),f notin (z)');
  });
});

describe('matches', () => {
  const labels = { tier: 'front', env: 'prod', app: '' };
  const cases: Array<[string, boolean]> = [
    ['tier=front', true],
    ['tier=back', false],
    ['tier!=back', true],
    ['missing!=x', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['env in (prod,staging)', true],
    ['env in (dev)', false],
    ['missing in (x)', false],
    ['env notin (dev)', true],
    ['env notin (prod)', false],
    ['missing notin (x)', true],
    ['tier=front,env=prod', true],
    ['tier=front,env=dev', false],
    ['app=', true],
  ];
  for (const [sel, want] of cases) it(`${sel} → ${want}`, () => expect(matches(labels, parseSelector(sel))).toBe(want));

  it('never matches inherited properties', () => {
    expect(matches({}, parseSelector('constructor'))).toBe(false);
    expect(matches({}, parseSelector('!toString'))).toBe(true);
  });
});
