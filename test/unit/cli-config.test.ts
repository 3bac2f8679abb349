// The CLI config file (contexts): where it is, what is valid, which controller wins.
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  configPath,
  deleteContext,
  emptyConfig,
  parseConfig,
  renderConfig,
  resolveController,
  setContext,
  useContext,
  type BerthConfig,
} from '../../cli/src/config.js';

const P = '/home/u/.config/berth/config.yaml';

describe('configPath', () => {
  it('BERTH_CONFIG, then an absolute XDG_CONFIG_HOME, then ~/.config', () => {
    const home = () => '/home/u';
    expect(configPath({ BERTH_CONFIG: '/etc/b.yaml', XDG_CONFIG_HOME: '/x' }, home)).toBe('/etc/b.yaml');
    expect(configPath({ XDG_CONFIG_HOME: '/x' }, home)).toBe('/x/berth/config.yaml');
    expect(configPath({ XDG_CONFIG_HOME: 'relative' }, home)).toBe('/home/u/.config/berth/config.yaml');
    expect(configPath({}, home)).toBe('/home/u/.config/berth/config.yaml');
  });
});

describe('parseConfig', () => {
  it('an empty file is an empty config; a full one parses', () => {
    expect(parseConfig('', P)).toEqual(emptyConfig());
    const c = parseConfig(
      'current-context: prod\ncontexts:\n  - { name: local, controller: "127.0.0.1:7070" }\n  - { name: prod, controller: "[fd00::1]:7070" }\n',
      P,
    );
    expect(c['current-context']).toBe('prod');
    expect(c.contexts.map((x) => x.controller)).toEqual(['127.0.0.1:7070', '[fd00::1]:7070']);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown field', 'contexts: []\ncolour: blue\n', /config\.yaml:\n {2}colour: unknown field/],
    ['bad address', 'contexts:\n  - { name: a, controller: nope }\n', /contexts\[0\]\.controller: "nope" is not a controller address/],
    ['bad port', 'contexts:\n  - { name: a, controller: "h:0" }\n', /contexts\[0\]\.controller: port 0 is out of range/],
    ['missing controller', 'contexts:\n  - { name: a }\n', /contexts\[0\]\.controller: required field is missing/],
    [
      'duplicate names',
      'contexts:\n  - { name: a, controller: "h:1" }\n  - { name: a, controller: "h:2" }\n',
      /contexts\[1\]\.name: "a" is already the name of contexts\[0\]/,
    ],
    [
      'dangling current',
      'current-context: b\ncontexts:\n  - { name: a, controller: "h:1" }\n',
      /current-context: names no context \(known: a\)/,
    ],
    ['bad name', 'contexts:\n  - { name: "-a", controller: "h:1" }\n', /contexts\[0\]\.name: "-a" is not valid/],
    ['wrong kind', 'kind: Service\n', /kind: must be one of "Config"/],
    ['not YAML', 'contexts: [\n', /not valid YAML/],
    ['duplicate key', 'contexts: []\ncontexts: []\n', /not valid YAML/],
    ['a list', '- a\n', /\(document\): expected a mapping/],
  ];
  for (const [name, text, err] of bad) {
    it(`refuses: ${name}, naming the file and field`, () => {
      expect(() => parseConfig(text, P)).toThrow(ConfigError);
      expect(() => parseConfig(text, P)).toThrow(err);
      expect(() => parseConfig(text, P)).toThrow(P);
    });
  }

  it('renders what it parses', () => {
    const c = setContext(setContext(emptyConfig(), 'a', 'h:1').config, 'b', '[::1]:2').config;
    const withCur = useContext(c, 'b', P);
    expect(parseConfig(renderConfig(withCur), P)).toEqual(withCur);
  });
});

describe('resolveController precedence', () => {
  const cfg: BerthConfig = {
    ...emptyConfig(),
    'current-context': 'cur',
    contexts: [
      { name: 'cur', controller: 'cur:1' },
      { name: 'other', controller: 'other:1' },
    ],
  };
  const broken = (): BerthConfig => {
    throw new ConfigError('broken file');
  };
  const base = { configPath: P, config: () => cfg };

  it('--controller beats everything and does not read the file', () => {
    expect(resolveController({ ...base, flag: 'f:1', context: 'other', env: 'e:1', config: broken })).toEqual({
      address: 'f:1',
      source: 'flag',
    });
  });
  it('--context beats BERTH_CONTROLLER and the current context', () => {
    expect(resolveController({ ...base, context: 'other', env: 'e:1' })).toEqual({
      address: 'other:1',
      source: 'context-flag',
      context: 'other',
    });
    expect(() => resolveController({ ...base, context: 'nope' })).toThrow(/--context nope: no such context .*known: cur, other/);
  });
  it('BERTH_CONTROLLER beats the current context and does not read the file', () => {
    expect(resolveController({ ...base, env: 'e:1', config: broken })).toEqual({ address: 'e:1', source: 'env' });
  });
  it('then the current context, then the default', () => {
    expect(resolveController(base)).toEqual({ address: 'cur:1', source: 'current-context', context: 'cur' });
    expect(resolveController({ ...base, config: () => emptyConfig() })).toEqual({ address: '127.0.0.1:7070', source: 'default' });
  });
  it('a broken file is an error when it is the one that decides', () => {
    expect(() => resolveController({ ...base, config: broken })).toThrow('broken file');
  });
});

describe('context edits', () => {
  it('set-context adds or updates without switching; use-context switches; delete clears current', () => {
    let c = setContext(emptyConfig(), 'a', 'h:1').config;
    expect(c['current-context']).toBeUndefined();
    const upd = setContext(c, 'a', 'h:2');
    expect(upd.created).toBe(false);
    c = useContext(upd.config, 'a', P);
    expect(c).toMatchObject({ 'current-context': 'a', contexts: [{ name: 'a', controller: 'h:2' }] });
    expect(() => useContext(c, 'zz', P)).toThrow(/no context named "zz"/);
    expect(deleteContext(c, 'a', P)).toEqual({ ...emptyConfig() });
  });
});
