/**
 * The page's one-line status (`#status`): a few keyed parts (camera, detector,
 * signaling, ...), errors first, joined with " · "; "ok" when there is nothing
 * to say. Errors are also logged and recorded (tests read them).
 */

export interface StatusSink {
  /** The line as last shown. */
  status: string;
  /** Every error text ever shown, oldest first. */
  errors: string[];
}

export class StatusLine<K extends string> {
  private readonly parts = new Map<K, { text: string; error: boolean }>();

  constructor(
    private readonly el: HTMLElement,
    /** Display order of the parts (errors still go first). */
    private readonly order: readonly K[],
    private readonly sink: StatusSink,
  ) {}

  /** Set (or, with `null`, clear) one part of the line. */
  set(key: K, text: string | null, error = false): void {
    if (text === null) this.parts.delete(key);
    else this.parts.set(key, { text, error });
    if (error && text) {
      console.warn(`facecast: ${text}`);
      this.sink.errors.push(text);
    }
    const parts = this.order.flatMap((k) => {
      const p = this.parts.get(k);
      return p ? [p] : [];
    });
    parts.sort((a, b) => Number(b.error) - Number(a.error));
    const line = parts.map((p) => p.text).join(' · ') || 'ok';
    this.el.textContent = line;
    this.el.classList.toggle(
      'error',
      parts.some((p) => p.error),
    );
    this.sink.status = line;
  }

  get(key: K): string | undefined {
    return this.parts.get(key)?.text;
  }
}
