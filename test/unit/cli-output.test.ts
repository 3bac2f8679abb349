// Output for people: escaped control characters, aligned tables (with colors applied after
// alignment), colors only on a terminal without NO_COLOR, stable and escaped json/yaml.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { colorEnabled, colorState, escapeControl, oneLine, table, toJson, toYaml } from '../../cli/src/output.js';

describe('escapeControl', () => {
  it('escapes C0 (but tab and newline), DEL and C1; leaves text alone', () => {
    expect(escapeControl('a\u001b[31mb\u0007c\u007fd\u009be\r')).toBe('a\\x1b[31mb\\x07c\\x7fd\\x9be\\x0d');
    expect(escapeControl('tab\tnew\nline é 日本')).toBe('tab\tnew\nline é 日本');
    expect(oneLine('a\tb\nc\u001b')).toBe('a b c\\x1b');
  });
});

describe('table', () => {
  it('aligns columns on the escaped text and colors after padding', () => {
    const rows = [
      ['web.1', colorState('running'), 'x'],
      ['a\u001b[2Jlong-name', colorState('failed'), 'y'],
    ];
    const plain = table(['NAME', 'STATE', 'MSG'], rows, { color: false }).split('\n');
    expect(plain).toEqual(['NAME                STATE     MSG', 'web.1               running   x', 'a\\x1b[2Jlong-name   failed    y']);
    const colored = table(['NAME', 'STATE', 'MSG'], rows, { color: true }).split('\n');
    expect(colored[1]).toBe('web.1               \u001b[32mrunning\u001b[0m   x');
    expect(colored[2]).toBe('a\\x1b[2Jlong-name   \u001b[31mfailed \u001b[0m   y');
    // The only ESC bytes are our own color codes.
    expect(colored.join('\n').replace(/\u001b\[[0-9;]*m/g, '')).not.toContain('\u001b');
  });
});

describe('colorEnabled', () => {
  it('a terminal, NO_COLOR unset or empty, TERM not dumb', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({}, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
  });
});

describe('toJson / toYaml', () => {
  const hostile = { name: 'web', msg: 'a\u001b[2Jb\u009b1m\u007f', multi: 'x\ny', n: 3, list: [1, 'two'] };
  it('json escapes every control character and round-trips', () => {
    const text = toJson(hostile);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(JSON.parse(text)).toEqual(hostile);
  });
  it('yaml escapes every control character, keeps key order and round-trips', () => {
    const text = toYaml(hostile);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(parse(text)).toEqual(hostile);
    expect(Object.keys(parse(text) as object)).toEqual(['name', 'msg', 'multi', 'n', 'list']);
  });
});
