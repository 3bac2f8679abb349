// Registry credentials: the password sealed in the store (never in the clear, never in a listing),
// and sent in an assignment only for a pull from the credential's own registry.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import { registryOf, sameRegistry } from '../../proto/src/spec/image-ref.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { SecretCipher } from '../../controller/src/secrets/cipher.js';
import { RegistryCredentialApi } from '../../controller/src/api/registry-credentials.js';
import { assignmentToPb } from '../../controller/src/dispatcher/dispatcher.js';
import { mockService, mockTask } from './fixtures.js';

describe('registryOf', () => {
  it.each([
    ['busybox', 'docker.io'],
    ['library/busybox:1', 'docker.io'],
    ['me/app', 'docker.io'],
    ['docker.io/me/app', 'docker.io'],
    ['index.docker.io/me/app', 'docker.io'],
    ['registry.example.com/team/app:2', 'registry.example.com'],
    ['127.0.0.1:5000/private/web:1', '127.0.0.1:5000'],
    ['localhost/app', 'localhost'],
    ['Registry.Example.com/app', 'registry.example.com'],
  ])('%s is on %s', (image, registry) => {
    expect(registryOf(image)).toBe(registry);
  });
  it('Docker Hub has several names; a scheme or path does not matter; ports do', () => {
    expect(sameRegistry('https://index.docker.io/v1/', 'docker.io')).toBe(true);
    expect(sameRegistry('127.0.0.1:5000', '127.0.0.1:5001')).toBe(false);
    expect(sameRegistry('evil.example.com', 'registry.example.com')).toBe(false);
  });
});

describe('registry credentials', () => {
  const PASSWORD = `canary-${randomBytes(8).toString('hex')}`;

  async function setup(cipher = new SecretCipher(randomBytes(32))) {
    const store = new MemoryStore();
    const keys = new Keys();
    const api = new RegistryCredentialApi({ store, keys, clock: new ManualClock(), cipher });
    return { store, keys, api, cipher };
  }

  it('the password is sealed in the store and in no listing', async () => {
    const { store, api } = await setup();
    const view = await api.set({ namespace: 'x', name: 'reg', server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
    expect(JSON.stringify(view)).not.toContain(PASSWORD);
    expect(JSON.stringify(await api.list('x'))).not.toContain(PASSWORD);
    const dump = (await store.list('')).items.map((kv) => kv.value).join('\n');
    expect(dump).not.toContain(PASSWORD);
    expect(dump).not.toContain(Buffer.from(PASSWORD).toString('base64'));
  });

  it('without a secret key the controller refuses to store one', async () => {
    const store = new MemoryStore();
    const noKey = new RegistryCredentialApi({ store, keys: new Keys(), clock: new ManualClock(), cipher: undefined });
    await expect(noKey.set({ namespace: 'x', name: 'reg', server: 'r.example.com', username: 'u', password: 'p' })).rejects.toThrow(
      /--secret-key-file/,
    );
    expect((await store.list('')).items).toEqual([]);
  });

  it('an assignment carries it only for an image on its registry', async () => {
    const { store, keys, api, cipher } = await setup();
    await api.set({ namespace: 'default', name: 'reg', server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
    const cache = new ClusterCache(store, keys, silentLogger());
    const ac = new AbortController();
    const running = cache.start(ac.signal);
    await cache.synced;
    try {
      const task = (image: string) => {
        const svc = mockService();
        return mockTask({ ...svc, spec: { ...svc.spec, image, imagePullSecret: 'reg' } });
      };
      const ours = assignmentToPb(cache, task('127.0.0.1:5000/private/web:1'), cipher);
      expect(ours.registryAuth).toEqual({ server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
      for (const image of ['evil.example.com/private/web:1', '127.0.0.1:5001/private/web:1', 'busybox']) {
        expect(assignmentToPb(cache, task(image), cipher).registryAuth, image).toBeUndefined();
      }
      // A controller without the key (or another key) sends nothing rather than garbage.
      expect(assignmentToPb(cache, task('127.0.0.1:5000/private/web:1'), undefined).registryAuth).toBeUndefined();
      expect(assignmentToPb(cache, task('127.0.0.1:5000/private/web:1'), new SecretCipher(randomBytes(32))).registryAuth).toBeUndefined();
    } finally {
      ac.abort();
      await running;
    }
  });
});
