// PURE binary heap whose items know their position, so an item whose key changed can be moved
// (update) or taken out (remove) in O(log n). The scheduler keeps nodes and node groups in these.

export interface HeapItem {
  /** Position in the heap holding the item; -1 when in none. Maintained by the heap. */
  heapIndex: number;
}

export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  /** `less(a, b)`: a comes out before b. */
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  /** The items in heap order (not sorted): for scans that look at every item. */
  get all(): readonly T[] {
    return this.items;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    x.heapIndex = this.items.length;
    this.items.push(x);
    this.up(x.heapIndex);
  }

  /** Builds the heap from many items at once: O(n). */
  pushAll(xs: readonly T[]): void {
    for (const x of xs) {
      x.heapIndex = this.items.length;
      this.items.push(x);
    }
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  remove(x: T): void {
    const i = x.heapIndex;
    if (i < 0 || this.items[i] !== x) return;
    const last = this.items.pop()!;
    x.heapIndex = -1;
    if (last === x) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.update(last);
  }

  /** Restores order after x's key changed. */
  update(x: T): void {
    const i = x.heapIndex;
    if (i < 0 || this.items[i] !== x) return;
    this.down(this.up(i));
  }

  has(x: T): boolean {
    return x.heapIndex >= 0 && this.items[x.heapIndex] === x;
  }

  private up(i: number): number {
    const items = this.items;
    const x = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.less(x, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = x;
    x.heapIndex = i;
    return i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const x = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!this.less(child, x)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = x;
    x.heapIndex = i;
  }
}
