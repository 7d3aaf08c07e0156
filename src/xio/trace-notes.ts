// Why an NF did what it did with a traced packet, for `xio-chain trace`: the counters its
// process() moved, read before and after (counters() allocates, so only for the packets a
// trace follows, and at most NOTES_PER_SECOND of them: a trace of thousands of packets through
// an NF with thousands of rule counters must not slow it to a crawl). Drop reasons first
// ("drop/noMapping"), a firewall rule's hit as "rule 3", then anything else that counted it
// ("sessionsCreated translatedOut"); an NF with an explain() says in its own words what its
// counters would (the NAT's mapping, "new map :20001"). Byte totals, gauges (sessionsActive),
// cache statistics and the runner's own figures say nothing a reader needs.
import type { Counters, NFInstance } from './nf-types.ts'
import { DROP_REASON } from './nf-types.ts'

const QUIET = /(^|\/)(bytes|[a-z]*Bytes)$|[a-z]Active$|^(burstP50Ns|burstP99Ns|nsPerPacket|cacheHits|cacheMisses|neighbours|held)$/
const NOTES_PER_SECOND = 200

export class TraceNotes {
  private before: Counters = {}
  private windowStart = 0
  private inWindow = 0

  constructor(private readonly instance: NFInstance) {}

  /** Just before process() on a traced packet; false when no note is taken (the rate is spent, or counters() threw). */
  start(): boolean {
    const now = performance.now()
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.inWindow = 0
    }
    if (this.inWindow >= NOTES_PER_SECOND) return false
    this.inWindow++
    try {
      this.before = this.instance.counters?.() ?? {}
      return true
    } catch {
      return false  // the runner counts counters() failures where it publishes them
    }
  }

  /** Just after: what process() counted ('' if counters() threw). */
  finish(): string {
    let after: Counters
    try {
      after = this.instance.counters?.() ?? {}
    } catch {
      return ''
    }
    // An NF that explains itself says it better than its counters (and a note has 32 bytes):
    // then only its drop reasons come before its own words.
    const explained = this.explain()
    const moved = Object.keys(after).filter((k) => after[k] !== this.before[k] && !QUIET.test(k) && (!explained || k.startsWith(DROP_REASON)))
    const rank = (k: string) => (k.startsWith(DROP_REASON) ? 0 : k.startsWith('rules/') ? 1 : 2)
    const words = moved
      .sort((a, b) => rank(a) - rank(b))
      .map((k) => k.replace(/^rules\/(\d+)\/packets$/, 'rule $1').replace(/^defaultPackets$/, 'default'))
      // "rule 3" beside "drop/rule/3" says it twice, as does "default" beside the default
      // policy's drop reason (drop/default, or a firewall's drop/fragment).
      .filter((k, _, all) => !all.includes(`${DROP_REASON}${k.replace(' ', '/')}`) && !(k === 'default' && all.some((x) => x.startsWith(DROP_REASON))))
    if (explained) words.push(explained)
    return words.join(' ')
  }

  private explain(): string {
    try {
      return this.instance.explain?.() ?? ''
    } catch {
      return '' // a note is not worth a fault: the packet was decided already
    }
  }
}
