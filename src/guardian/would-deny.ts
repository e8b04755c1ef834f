// What report-mode rules would have refused (issue 16 §5): the last few hundred would-deny events,
// so an operator trying a rule in report mode sees whom it would hit before enforcing it. A ring of
// fixed size: memory stays bounded however many requests a broad rule meets. Streams are named by
// their log reference (`ref:…`, src/log.ts), never by the name, which is the publish key.
import type { RuleAction, RuleKind } from "./rules.js";

export interface WouldDeny {
  /** ms since the epoch. */
  readonly at: number;
  readonly ruleId: string;
  readonly kind: RuleKind;
  /** The rule's value when it met the request (it may be deleted since). */
  readonly value: string;
  readonly action: RuleAction;
  /** The adapter's protocol (rtmp, flv, http, hook); absent when the caller did not say. */
  readonly protocol?: string;
  readonly ip: string;
  /** streamRef(name). */
  readonly stream: string;
}

export class WouldDenyLog {
  private readonly ring: (WouldDeny | undefined)[];
  private next = 0;
  private total = 0;

  constructor(readonly capacity = 200) {
    this.ring = new Array<WouldDeny | undefined>(capacity);
  }

  record(event: WouldDeny): void {
    this.ring[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    this.total++;
  }

  /** Every event recorded since start, kept or not. */
  get recorded(): number {
    return this.total;
  }

  /** The kept events, newest first. */
  recent(): WouldDeny[] {
    const out: WouldDeny[] = [];
    for (let i = 1; i <= this.capacity; i++) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (e === undefined) break;
      out.push(e);
    }
    return out;
  }
}
