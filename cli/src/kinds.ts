// The kinds of object the CLI's verbs name (`berth get services`, `berth describe task …`,
// `berth delete secret …`): one registry of their singular and plural forms, aliases and the
// verbs that take them. get, describe, delete and the completion script all read it, so a kind or
// an alias added here is accepted, listed in help and errors, and completed everywhere at once.

export type Kind = 'service' | 'task' | 'node' | 'secret' | 'policy';
export type KindVerb = 'get' | 'describe' | 'delete';

export interface KindInfo {
  kind: Kind;
  plural: string;
  /** Other words for it (kubectl's short names). */
  aliases: readonly string[];
  verbs: readonly KindVerb[];
}

export const KINDS: readonly KindInfo[] = [
  { kind: 'service', plural: 'services', aliases: ['svc'], verbs: ['get', 'describe', 'delete'] },
  { kind: 'task', plural: 'tasks', aliases: [], verbs: ['get', 'describe'] },
  { kind: 'node', plural: 'nodes', aliases: [], verbs: ['get', 'describe'] },
  { kind: 'secret', plural: 'secrets', aliases: [], verbs: ['get', 'delete'] },
  { kind: 'policy', plural: 'policies', aliases: [], verbs: ['get', 'delete'] },
];

/** Every word a kind may be written as: singular, plural, aliases. */
export function kindWords(k: KindInfo): string[] {
  return [k.kind, k.plural, ...k.aliases];
}

/** The kinds a verb takes, in registry order. */
export function kindsOf(verb: KindVerb): KindInfo[] {
  return KINDS.filter((k) => k.verbs.includes(verb));
}

/** The kind a word names for this verb (any form), or undefined. */
export function parseKind(verb: KindVerb, word: string): Kind | undefined {
  return kindsOf(verb).find((k) => kindWords(k).includes(word))?.kind;
}

/** The kinds of a verb for an argument's help: "services | tasks | nodes | secrets". */
export function kindChoices(verb: KindVerb, form: 'singular' | 'plural'): string {
  return kindsOf(verb)
    .map((k) => (form === 'plural' ? k.plural : k.kind))
    .join(' | ');
}

/** The kinds of a verb for an error message: "services, tasks, nodes or secrets". */
export function kindList(verb: KindVerb, form: 'singular' | 'plural'): string {
  const words = kindsOf(verb).map((k) => (form === 'plural' ? k.plural : k.kind));
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)!}` : words.join('');
}

export function isKindVerb(s: string): s is KindVerb {
  return s === 'get' || s === 'describe' || s === 'delete';
}
