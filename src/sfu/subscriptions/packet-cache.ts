/**
 * A ring of the last N packets of one stream, indexed by 16-bit sequence number.
 * Used to answer NACKs from the SFU itself, never forwarding them upstream.
 */
export class PacketCache<T> {
  private readonly items: (T | undefined)[];
  private readonly seqs: Int32Array;
  private readonly mask: number;

  /** `size` is rounded up to a power of two (>= 512 by default 1024). */
  constructor(size = 1024) {
    let n = 1;
    while (n < size) n <<= 1;
    this.items = new Array<T | undefined>(n);
    this.seqs = new Int32Array(n).fill(-1);
    this.mask = n - 1;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  put(seq: number, item: T): void {
    const i = seq & this.mask;
    this.items[i] = item;
    this.seqs[i] = seq;
  }

  get(seq: number): T | undefined {
    const i = seq & this.mask;
    return this.seqs[i] === seq ? this.items[i] : undefined;
  }

  clear(): void {
    this.items.fill(undefined);
    this.seqs.fill(-1);
  }
}
