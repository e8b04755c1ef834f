// Which edge each client had for each stream (issue 7 §4 stickiness), in a fixed hash table of
// typed arrays: a route reads and writes one slot and allocates nothing (a Map of 100k string
// or number keys cost more than the edge selection itself, mostly in growth and GC — measured).
//
// Keys are 31-bit hashes of (action, client, stream); the table has 4 × maxEntries slots, one
// entry per slot, its key, edge and time side by side (one cache line per lookup). A slot taken by another pair simply forgets the older one (its client is
// routed afresh — to the nearest eligible edge); below maxEntries active pairs that stays rare.
// Two pairs with the same hash can only be handed an edge that is eligible anyway.
const EMPTY = -1;

export class StickyMemory {
  /** Per slot: key (EMPTY when unused), edge code, last use (ms). */
  private readonly slots: Float64Array;
  private readonly mask: number;
  /** Edge ids by code: the table stores small integers, the ids outlive table reloads. */
  private readonly ids: string[] = [];
  private readonly codes = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    let size = 1;
    while (size < maxEntries * 4) size *= 2;
    this.mask = size - 1;
    this.slots = new Float64Array(size * 3);
    for (let s = 0; s < size; s++) this.slots[s * 3] = EMPTY;
  }

  /** The edge id remembered for `key` (0 ≤ key < 2^31) if used within the TTL. */
  get(key: number): string | undefined {
    const at = (key & this.mask) * 3;
    const slots = this.slots;
    if (slots[at] !== key || this.now() - slots[at + 2] >= this.ttlMs) return undefined;
    return this.ids[slots[at + 1]];
  }

  set(key: number, edge: string): void {
    let code = this.codes.get(edge);
    if (code === undefined) {
      code = this.ids.length;
      this.ids.push(edge);
      this.codes.set(edge, code);
    }
    const at = (key & this.mask) * 3;
    this.slots[at] = key;
    this.slots[at + 1] = code;
    this.slots[at + 2] = this.now();
  }
}
