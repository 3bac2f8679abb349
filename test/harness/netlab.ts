// Network namespaces for simulated hosts whose links can be cut. One bridge in the root
// namespace carries a private /24 (10.215.x.0, chosen free); its .1 is where the controllers
// listen. Each host gets a namespace with a veth pair: the inner end holds 10.215.x.(10+i), the
// outer end hangs on the bridge. Cutting a host's link sets the outer end down: packets vanish
// silently (no reset), as on a pulled cable. Only addresses of these namespaces are ever used.
import { randomBytes } from 'node:crypto';
import { ip, usedSubnets, withSubnetLock } from './netns.js';

export interface NetHost {
  ns: string;
  /** Outer end of the veth pair (in the root namespace, on the bridge). */
  outer: string;
  address: string;
}

export class NetLab {
  readonly hosts: NetHost[] = [];
  private cut = new Set<number>();

  private constructor(
    readonly bridge: string,
    readonly subnet: string,
  ) {}

  /** Where services in the root namespace listen so that every namespace reaches them. */
  get gateway(): string {
    return `${this.subnet}.1`;
  }

  static create(hosts: number): NetLab {
    const tag = randomBytes(3).toString('hex');
    // The subnet is chosen and its bridge address taken under the lock parallel test files share.
    const lab = withSubnetLock(() => {
      const used = usedSubnets();
      let subnet: string | undefined;
      for (let tries = 0; tries < 250 && !subnet; tries++) {
        const third = 1 + ((randomBytes(1)[0]! + tries) % 250);
        if (!used.has(`10.215.${third}`)) subnet = `10.215.${third}`;
      }
      if (!subnet) throw new Error('no free 10.215.x.0/24 for the test network');
      const l = new NetLab(`btl${tag}`, subnet);
      ip('link', 'add', 'name', l.bridge, 'type', 'bridge');
      try {
        ip('addr', 'add', `${l.gateway}/24`, 'dev', l.bridge);
      } catch (err) {
        ip('link', 'delete', l.bridge);
        throw err;
      }
      return l;
    });
    const subnet = lab.subnet;
    try {
      ip('link', 'set', lab.bridge, 'up');
      for (let i = 0; i < hosts; i++) {
        const h: NetHost = { ns: `btn${tag}h${i}`, outer: `bto${tag}${i}`, address: `${subnet}.${10 + i}` };
        const inner = `bti${tag}${i}`;
        ip('netns', 'add', h.ns);
        lab.hosts.push(h);
        ip('link', 'add', h.outer, 'type', 'veth', 'peer', 'name', inner);
        ip('link', 'set', inner, 'netns', h.ns);
        ip('link', 'set', h.outer, 'master', lab.bridge);
        ip('link', 'set', h.outer, 'up');
        ip('netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.address}/24`, 'dev', inner);
        ip('netns', 'exec', h.ns, 'ip', 'link', 'set', inner, 'up');
        ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up');
      }
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  /** The command prefix that runs a program inside host i's namespace. */
  exec(i: number): string[] {
    return ['ip', 'netns', 'exec', this.hosts[i]!.ns];
  }

  /** Silently drops everything to and from host i until heal(i). */
  cutLink(i: number): void {
    ip('link', 'set', this.hosts[i]!.outer, 'down');
    this.cut.add(i);
  }

  healLink(i: number): void {
    ip('link', 'set', this.hosts[i]!.outer, 'up');
    this.cut.delete(i);
  }

  isCut(i: number): boolean {
    return this.cut.has(i);
  }

  /** Removes the namespaces (their veth pairs go with them) and the bridge. */
  destroy(): void {
    for (const h of this.hosts) {
      try {
        ip('netns', 'delete', h.ns);
      } catch {
        /* already gone */
      }
    }
    try {
      ip('link', 'delete', this.bridge);
    } catch {
      /* already gone */
    }
  }
}
