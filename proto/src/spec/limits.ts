// Limits on manifest input, shared by the CLI's YAML reader (cli/src/manifest.ts) and the
// controller's JSON edge (safe-json.ts): hostile input is refused before it costs much.

/** Largest manifest document (and file) accepted: far above any real manifest. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
/** Deepest nesting of mappings and lists; a real manifest (or Compose file) needs fewer than 10. */
export const MAX_DEPTH = 64;
/** YAML aliases resolved per document: a "billion laughs" needs many, a real file a handful. */
export const MAX_ALIASES = 100;
/**
 * Keys refused anywhere in a document: in JavaScript they can reach an object's prototype. The
 * schema would refuse them as unknown fields anyway; refusing them while parsing means no code
 * ever holds an object with such a key.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function forbiddenKeyMessage(key: string): string {
  return `the key ${JSON.stringify(key)} is not allowed (it could reach an object's prototype)`;
}

/** Path of a child, as users write it: `spec.ports[1].hostPort`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}
