/** Modular arithmetic for RTP sequence numbers (16 bit) and timestamps (32 bit). */

export const add16 = (a: number, b: number): number => (a + b) & 0xffff;
export const add32 = (a: number, b: number): number => (a + b) >>> 0;

/** Signed distance b - a on the 16-bit circle, in [-32768, 32767]. */
export function diff16(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= 0x8000 ? d - 0x10000 : d;
}

/** Signed distance b - a on the 32-bit circle. */
export function diff32(a: number, b: number): number {
  const d = (b - a) >>> 0;
  return d >= 0x80000000 ? d - 0x100000000 : d;
}

/**
 * Unwraps 16-bit sequence numbers into a monotonic-ish extended counter,
 * tolerating reordering of up to half the space.
 */
export class SeqUnwrapper {
  private last = -1;
  unwrap(seq: number): number {
    if (this.last < 0) {
      this.last = seq + 0x10000; // keep room below for early reordered packets
      return this.last;
    }
    const ext = this.last + diff16(this.last & 0xffff, seq);
    if (ext > this.last) this.last = ext;
    return ext;
  }
}
