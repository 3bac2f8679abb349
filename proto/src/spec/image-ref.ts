// Which registry an image reference names, by Docker's rule (distribution/reference): the part
// before the first "/" is a registry host when it has a "." or a ":" or is "localhost"; otherwise
// the image is on Docker Hub. A registry credential is sent only for pulls from its own registry.

const DOCKER_HUB = 'docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? normalRegistry(first) : DOCKER_HUB;
}

/** Lower case, without a scheme or path; Docker Hub's aliases are one. */
export function normalRegistry(server: string): string {
  const host = server
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/\/.*$/, '');
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

export function sameRegistry(a: string, b: string): boolean {
  return normalRegistry(a) === normalRegistry(b);
}
