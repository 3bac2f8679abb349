// A local image without any registry: Debian's busybox-static, its applets as symlinks, and a
// small web root, imported with `docker import` semantics (no pull from the internet).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';

export const LOCAL_IMAGE = 'berth-local/busybox:1';
const BUSYBOX = '/bin/busybox';

export async function hasImage(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Builds the image into the engine unless it is there already. */
export async function ensureBusyboxImage(docker: Docker, ref = LOCAL_IMAGE): Promise<void> {
  if (await hasImage(docker, ref)) return;
  const busybox = existsSync(BUSYBOX) ? BUSYBOX : '/usr/bin/busybox';
  if (!existsSync(busybox)) throw new Error("busybox not found: install Debian's busybox-static (apt-get install busybox-static)");
  const root = mkdtempSync(join(tmpdir(), 'berth-image-'));
  try {
    for (const d of ['bin', 'etc', 'tmp', 'www', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    copyFileSync(busybox, join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'busybox');
    for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    writeFileSync(join(root, 'www', 'index.html'), '<h1>Hello from Berth</h1>\n');
    const [repo, tag] = ref.split(':') as [string, string];
    const tar = spawn('tar', ['-c', '-C', root, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const stream = await docker.importImage(tar.stdout, { repo, tag, changes: ['ENV PATH=/bin', 'CMD ["sh"]'] } as object);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
    if (!(await hasImage(docker, ref))) throw new Error(`importing ${ref} did not produce the image`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
