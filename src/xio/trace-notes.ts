// Why an NF did what it did with a traced packet, for `xio-chain trace`: the counters its
// process() moved, read before and after (counters() allocates, so only for the few packets a
// trace follows). Drop reasons first ("drop/noMapping"), a firewall rule's hit as "rule 3",
// then anything else that counted it ("sessionsCreated translatedOut"); byte totals, gauges
// (sessionsActive), cache statistics and the runner's own figures say nothing a reader needs.
import type { Counters, NFInstance } from './nf-types.ts'
import { DROP_REASON } from './nf-types.ts'

const QUIET = /(^|\/)(bytes|[a-z]*Bytes)$|[a-z]Active$|^(burstP50Ns|burstP99Ns|nsPerPacket|cacheHits|cacheMisses|neighbours|held)$/

export class TraceNotes {
  private before: Counters = {}

  constructor(private readonly instance: NFInstance) {}

  /** Just before process() on a traced packet. */
  start(): void {
    this.before = this.instance.counters?.() ?? {}
  }

  /** Just after: what process() counted. */
  finish(): string {
    const after = this.instance.counters?.() ?? {}
    const moved = Object.keys(after).filter((k) => after[k] !== this.before[k] && !QUIET.test(k))
    const rank = (k: string) => (k.startsWith(DROP_REASON) ? 0 : k.startsWith('rules/') ? 1 : 2)
    return moved
      .sort((a, b) => rank(a) - rank(b))
      .map((k) => k.replace(/^rules\/(\d+)\/packets$/, 'rule $1').replace(/^defaultPackets$/, 'default'))
      // "rule 3" beside "drop/rule/3" (or "default" beside "drop/default") says it twice.
      .filter((k, _, all) => !all.includes(`${DROP_REASON}${k.replace(' ', '/')}`))
      .join(' ')
  }
}
