/**
 * A topology as a graph: ranks (devices or dies) and switches joined by directed links with a bandwidth (per
 * direction) and a latency. Routes prefer the scale-up fabric between ranks of one domain and the scale-out network
 * otherwise; a cut link is routed around (within the same fabric) when another path exists.
 */
import { TesseraError } from '@tessera/device';
import type { TopologySpec } from './spec';

export type LinkKind = 'scale-up' | 'scale-out';

export interface Link {
  id: number;
  /** e.g. "rank3→nvswitch0". */
  name: string;
  from: string;
  to: string;
  /** GB/s per direction as built. */
  bandwidthGBs: number;
  latencyUs: number;
  kind: LinkKind;
  /** Injected degradation: the link runs at `factor` of its bandwidth (1 = healthy). */
  factor: number;
  cut: boolean;
}

const rankNode = (r: number) => `rank${r}`;

export class TopologyGraph {
  readonly links: Link[] = [];
  private readonly out = new Map<string, Link[]>();
  private readonly byEnds = new Map<string, Link>();
  private readonly routeCache = new Map<string, Link[]>();
  /** Changes whenever a link is degraded or cut, so cached costs can be invalidated. */
  version = 0;
  readonly ranks: number;
  readonly ranksPerDomain: number;

  constructor(readonly spec: TopologySpec) {
    const { nodes, devicesPerNode, scaleUp: su, scaleOut: so } = spec;
    this.ranks = nodes * devicesPerNode;
    const domainNodes = su.domainNodes ?? 1;
    this.ranksPerDomain = domainNodes * devicesPerNode;
    const per = devicesPerNode;
    for (let n = 0; n < nodes; n++) {
      const first = n * per;
      if (su.kind === 'switch') {
        const sw = `sw${n}`;
        for (let r = first; r < first + per; r++) {
          this.add(rankNode(r), sw, su.bandwidthGBs, su.latencyUs / 2, 'scale-up');
          this.add(sw, rankNode(r), su.bandwidthGBs, su.latencyUs / 2, 'scale-up');
        }
        if (domainNodes > 1) {
          // Second switch tier of a multi-node domain: non-blocking (every rank's bandwidth), minus the cross-node cost.
          const tier2 = `tier2-${Math.floor(n / domainNodes)}`;
          const cap = per * su.bandwidthGBs * (su.crossNodeBandwidthFactor ?? 1);
          const lat = su.crossNodeLatencyUs ?? 0;
          this.add(sw, tier2, cap, lat / 2, 'scale-up');
          this.add(tier2, sw, cap, lat / 2, 'scale-up');
        }
      } else {
        for (let a = first; a < first + per; a++) {
          for (let b = first; b < first + per; b++)
            if (a !== b) this.add(rankNode(a), rankNode(b), su.bandwidthGBs, su.latencyUs, 'scale-up');
        }
      }
      const dpp = spec.diesPerPackage ?? 1;
      if (dpp > 1 && su.packageLinkGBs) {
        for (let p = first; p < first + per; p += dpp) {
          for (let a = p; a < p + dpp; a++) {
            for (let b = p; b < p + dpp; b++)
              if (a !== b) this.add(rankNode(a), rankNode(b), su.packageLinkGBs, su.latencyUs / 4, 'scale-up');
          }
        }
      }
    }
    if (so) {
      // Rail-optimised fat-tree: rank i of every node on leaf i; leaves to one non-blocking spine (÷ oversubscription).
      const upCap = (nodes * so.nicGBs) / (so.oversubscription ?? 1);
      for (let rail = 0; rail < per; rail++) {
        const leaf = `leaf${rail}`;
        for (let n = 0; n < nodes; n++) {
          const r = n * per + rail;
          this.add(rankNode(r), leaf, so.nicGBs, so.latencyUs / 2, 'scale-out');
          this.add(leaf, rankNode(r), so.nicGBs, so.latencyUs / 2, 'scale-out');
        }
        this.add(leaf, 'spine', upCap, so.latencyUs / 2, 'scale-out');
        this.add('spine', leaf, upCap, so.latencyUs / 2, 'scale-out');
      }
    }
  }

  private add(from: string, to: string, bandwidthGBs: number, latencyUs: number, kind: LinkKind): void {
    const link: Link = {
      id: this.links.length,
      name: `${from}→${to}`,
      from,
      to,
      bandwidthGBs,
      latencyUs,
      kind,
      factor: 1,
      cut: false,
    };
    this.links.push(link);
    this.byEnds.set(`${from}|${to}`, link);
    let l = this.out.get(from);
    if (!l) this.out.set(from, (l = []));
    l.push(link);
  }

  domainOf(rank: number): number {
    return Math.floor(rank / this.ranksPerDomain);
  }

  nodeOf(rank: number): number {
    return Math.floor(rank / this.spec.devicesPerNode);
  }

  /** Links matching a name (exact "rank3→sw0"), or every link between two ranks' nodes in both directions. */
  findLinks(nameOrRanks: string | [number, number]): Link[] {
    if (typeof nameOrRanks === 'string') {
      const l = this.links.filter((x) => x.name === nameOrRanks);
      if (l.length === 0) {
        throw new TesseraError('InvalidValue', `No link named '${nameOrRanks}'.`, {
          hint: `Links are named "from→to", e.g. "${this.links[0]?.name}"; cluster.graph.links lists them.`,
        });
      }
      return l;
    }
    const [a, b] = nameOrRanks;
    const direct = this.links.filter(
      (x) => (x.from === rankNode(a) && x.to === rankNode(b)) || (x.from === rankNode(b) && x.to === rankNode(a)),
    );
    if (direct.length) return direct;
    throw new TesseraError('InvalidValue', `Ranks ${a} and ${b} share no direct link in '${this.spec.name}'.`, {
      hint: 'On switched fabrics, degrade a rank’s own link to its switch, e.g. "rank3→sw0" and "sw0→rank3".',
    });
  }

  setLinkState(links: Link[], state: { factor?: number; cut?: boolean }): void {
    for (const l of links) {
      if (state.factor !== undefined) l.factor = state.factor;
      if (state.cut !== undefined) l.cut = state.cut;
    }
    this.version++;
    this.routeCache.clear();
  }

  private link(from: string, to: string): Link {
    return this.byEnds.get(`${from}|${to}`)!;
  }

  /** The route the fabric's structure gives (no search): used whenever none of its links is cut. */
  private structuredRoute(a: number, b: number): Link[] {
    const { spec } = this;
    const A = rankNode(a);
    const B = rankNode(b);
    if (this.domainOf(a) === this.domainOf(b)) {
      const dpp = spec.diesPerPackage ?? 1;
      if (dpp > 1 && spec.scaleUp.packageLinkGBs && Math.floor(a / dpp) === Math.floor(b / dpp))
        return [this.link(A, B)];
      if (spec.scaleUp.kind === 'mesh') return [this.link(A, B)];
      const na = this.nodeOf(a);
      const nb = this.nodeOf(b);
      if (na === nb) return [this.link(A, `sw${na}`), this.link(`sw${na}`, B)];
      const t2 = `tier2-${this.domainOf(a)}`;
      return [this.link(A, `sw${na}`), this.link(`sw${na}`, t2), this.link(t2, `sw${nb}`), this.link(`sw${nb}`, B)];
    }
    const ra = a % spec.devicesPerNode;
    const rb = b % spec.devicesPerNode;
    if (ra === rb) return [this.link(A, `leaf${ra}`), this.link(`leaf${rb}`, B)];
    return [
      this.link(A, `leaf${ra}`),
      this.link(`leaf${ra}`, 'spine'),
      this.link('spine', `leaf${rb}`),
      this.link(`leaf${rb}`, B),
    ];
  }

  /** The links a transfer from rank a to rank b crosses. Throws PeerUnreachable when cut links leave no path. */
  route(a: number, b: number): Link[] {
    const direct = this.structuredRoute(a, b);
    if (!direct.some((l) => l.cut)) return direct;
    const key = `${a}>${b}`;
    const hit = this.routeCache.get(key);
    if (hit) return hit;
    const sameDomain = this.domainOf(a) === this.domainOf(b);
    const allowed = (l: Link) => !l.cut && (sameDomain ? l.kind === 'scale-up' : l.kind === 'scale-out');
    const path = this.bfs(rankNode(a), rankNode(b), allowed);
    if (!path) {
      throw new TesseraError(
        'PeerUnreachable',
        `No path from rank ${a} to rank ${b} in '${this.spec.name}': the links between them are cut.`,
        {
          hint: 'Restore the link (cluster.restoreLink) or leave the unreachable rank out of the communicator.',
        },
      );
    }
    this.routeCache.set(key, path);
    return path;
  }

  /** Breadth-first search for a shortest path, visiting ranks only as endpoints or (mesh) one-hop relays. */
  private bfs(src: string, dst: string, allowed: (l: Link) => boolean): Link[] | null {
    const prev = new Map<string, Link>();
    const seen = new Set<string>([src]);
    let frontier = [src];
    while (frontier.length) {
      const next: string[] = [];
      for (const n of frontier) {
        for (const l of this.out.get(n) ?? []) {
          if (!allowed(l) || seen.has(l.to)) continue;
          seen.add(l.to);
          prev.set(l.to, l);
          if (l.to === dst) {
            const path: Link[] = [];
            for (let cur = dst; cur !== src; ) {
              const pl = prev.get(cur)!;
              path.unshift(pl);
              cur = pl.from;
            }
            return path;
          }
          next.push(l.to);
        }
      }
      frontier = next;
    }
    return null;
  }
}
