/**
 * The paged KV cache's bookkeeping (vLLM's KVCacheManager, host side): fixed-size blocks handed out from a free
 * queue, a block table per request, reference counts, and prefix caching of full blocks.
 *
 * Prefix caching: a full block's hash is hash(parent block's hash, its token ids), so equal hashes mean equal whole
 * prefixes. A block whose request finished keeps its hash and contents while it sits in the free queue; a new request
 * whose prompt starts with the same blocks takes them back (a hit) instead of recomputing them. Allocation pops the
 * queue's head — the least recently freed block — and forgets its hash then (LRU eviction). Only full blocks are
 * cached, and the last prompt token is always recomputed so that the step has a token to sample from.
 */
import { createHash } from 'node:crypto';

interface Block {
  id: number;
  refs: number;
  /** Hash of the whole prefix ending with this block, once it is full and registered. */
  hash: string | null;
  /** Position in the free queue (a doubly linked list, for O(1) removal on a cache hit). */
  prev: Block | null;
  next: Block | null;
  free: boolean;
}

export interface KvRequestState {
  /** Physical block ids, in logical order. */
  blocks: number[];
  /** Hashes of this request's full blocks, in order (computed lazily). */
  hashes: string[];
}

export class KvCacheManager {
  private readonly blocks: Block[];
  private head: Block | null = null;
  private tail: Block | null = null;
  private freeCount = 0;
  private readonly cached = new Map<string, Block>();
  queries = 0;
  hits = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
    readonly prefixCaching: boolean,
  ) {
    this.blocks = Array.from({ length: numBlocks }, (_, id) => ({
      id,
      refs: 0,
      hash: null,
      prev: null,
      next: null,
      free: false,
    }));
    for (const b of this.blocks) this.pushFree(b);
  }

  get freeBlocks(): number {
    return this.freeCount;
  }

  /** Fraction of blocks held by requests (cached-but-free blocks count as free, as in vLLM). */
  get usage(): number {
    return this.numBlocks === 0 ? 0 : 1 - this.freeCount / this.numBlocks;
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /**
   * Looks up the longest cached prefix of `tokens` (full blocks only, leaving at least the last token to compute),
   * takes those blocks for `req`, and returns how many tokens they cover. The caller records the query once the
   * request is scheduled (recordQuery), so a retry is not counted twice.
   */
  acquireCachedPrefix(req: KvRequestState, tokens: readonly number[]): number {
    if (!this.prefixCaching || req.blocks.length > 0) return 0;
    const full = Math.floor((tokens.length - 1) / this.blockSize);
    const found: Block[] = [];
    for (let i = 0; i < full; i++) {
      const h = this.hashOf(req, tokens, i);
      const b = this.cached.get(h);
      if (!b) break;
      found.push(b);
    }
    for (const b of found) {
      if (b.free) this.unlinkFree(b);
      b.refs++;
      req.blocks.push(b.id);
    }
    return found.length * this.blockSize;
  }

  /** Counts a prefix-cache lookup of `tokens` tokens that found `hitTokens` of them (vLLM's queries/hits counters). */
  recordQuery(tokens: number, hitTokens: number): void {
    this.queries += tokens;
    this.hits += hitTokens;
  }

  /** Grows `req`'s block table to hold `tokens` tokens; false (and no change) if there are not enough free blocks. */
  allocate(req: KvRequestState, tokens: number): boolean {
    const need = this.blocksFor(tokens) - req.blocks.length;
    if (need <= 0) return true;
    if (need > this.freeCount) return false;
    for (let i = 0; i < need; i++) {
      const b = this.popFree();
      if (b.hash !== null) {
        if (this.cached.get(b.hash) === b) this.cached.delete(b.hash);
        b.hash = null;
      }
      b.refs = 1;
      req.blocks.push(b.id);
    }
    return true;
  }

  /** Registers the blocks of `req` that `computed` tokens have filled, so later requests can share them. */
  registerFull(req: KvRequestState, tokens: readonly number[], computed: number): void {
    if (!this.prefixCaching) return;
    const full = Math.floor(computed / this.blockSize);
    for (let i = 0; i < full; i++) {
      const b = this.blocks[req.blocks[i]!]!;
      if (b.hash !== null) continue;
      const h = this.hashOf(req, tokens, i);
      b.hash = h;
      if (!this.cached.has(h)) this.cached.set(h, b);
    }
  }

  /** Releases `req`'s blocks: in reverse order, so a prefix's tail is evicted before its head. */
  free(req: KvRequestState): void {
    for (let i = req.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[req.blocks[i]!]!;
      b.refs--;
      if (b.refs === 0) this.pushFree(b); // keeps its hash: a later request may take it back
    }
    req.blocks = [];
  }

  /** Drops every cached prefix (e.g. for tests); blocks in use are untouched. */
  resetPrefixCache(): void {
    for (const b of this.cached.values()) b.hash = null;
    this.cached.clear();
  }

  private hashOf(req: KvRequestState, tokens: readonly number[], i: number): string {
    while (req.hashes.length <= i) {
      const j = req.hashes.length;
      const parent = j === 0 ? '' : req.hashes[j - 1]!;
      const chunk = tokens.slice(j * this.blockSize, (j + 1) * this.blockSize);
      req.hashes.push(createHash('sha256').update(parent).update(Int32Array.from(chunk)).digest('base64'));
    }
    return req.hashes[i]!;
  }

  private pushFree(b: Block): void {
    b.free = true;
    b.prev = this.tail;
    b.next = null;
    if (this.tail) this.tail.next = b;
    else this.head = b;
    this.tail = b;
    this.freeCount++;
  }

  private popFree(): Block {
    const b = this.head!;
    this.unlinkFree(b);
    return b;
  }

  private unlinkFree(b: Block): void {
    if (b.prev) b.prev.next = b.next;
    else this.head = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.tail = b.prev;
    b.prev = b.next = null;
    b.free = false;
    this.freeCount--;
  }
}
