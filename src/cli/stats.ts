// Plain periodic stats for `run` without a terminal: one line per endpoint per interval,
// rates from counter deltas over the real elapsed time.
import { startsProcess, type Chain } from '../chain/spec.ts'
import { lossesOf, type RegionSnapshot } from '../xio/index.ts'
import { holdsItsShare } from '../xio/pool-share.ts'
import { groupLabel } from '../tui/topology.ts'

export function formatRate(perSecond: number): string {
  const units = ['', 'k', 'M', 'G']
  let v = perSecond, u = 0
  while (Math.abs(v) >= 1000 && u < units.length - 1) (v /= 1000), u++
  return `${v.toFixed(v >= 100 || u === 0 ? 0 : 1)}${units[u]}`
}

interface Totals {
  rx: number
  tx: number
  rxBytes: number
  /** Really dropped: asked for, no route, refused by the manager, or lost with an instance that died. */
  drop: number
  /** Offered to a full TX ring and refused there: the sender still has them and retries. */
  backpressure: number
}

/**
 * By endpoint name: the manager's counts since the chain started (a service's totals, so a
 * restarted NF's line carries on from where it was, and a restart between two lines reads as
 * neither a stall nor a burst), with backpressure as its running instances count it. A capture
 * (no service of the chain) by what its slot counted.
 */
function totals(s: RegionSnapshot): Map<string, Totals> {
  const byName = new Map<string, Totals>()
  for (const slot of s.slots) {
    if (slot.state !== 'active') continue
    const t = byName.get(slot.name) ?? { rx: 0, tx: 0, rxBytes: 0, drop: 0, backpressure: 0 }
    t.rx += slot.route.rxPackets
    t.tx += slot.route.txPackets
    t.rxBytes += slot.route.rxBytes
    t.drop += lossesOf(slot.route)
    t.backpressure += slot.rings.tx.refused
    byName.set(slot.name, t)
  }
  for (const service of s.services) {
    const c = service.totals
    const t = byName.get(service.name) ?? { rx: 0, tx: 0, rxBytes: 0, drop: 0, backpressure: 0 }
    t.rx = c.rxPackets
    t.tx = c.txPackets
    t.rxBytes = c.rxBytes
    t.drop = lossesOf(c)
    byName.set(service.name, t)
  }
  return byName
}

/**
 * Lines describing what happened between two snapshots. `labels` names rows by slot name: a
 * placement group's slot bears its first member's name, and counts for the whole group.
 * `processes`, when the chain is known, names the endpoints whose processes it runs.
 */
export function statsLines(before: RegionSnapshot, after: RegionSnapshot, labels: ReadonlyMap<string, string> = new Map(), processes?: ReadonlySet<string>): string[] {
  const seconds = (after.time - before.time) / 1000
  const a = totals(before), b = totals(after)
  // A row for each endpoint running now; its rates from its totals whether or not it ran before.
  const running = new Set(after.slots.filter((s) => s.state === 'active').map((s) => s.name))
  const atShare = new Set(after.slots.filter((s) => s.state === 'active' && holdsItsShare(s, after)).map((s) => s.name))
  // And one for each that died and has no instance running (between a crash and its restart, or
  // refused a restart): when the chain most needs watching. One that left on its own (a reload
  // took it away or restarts it) has no row meanwhile.
  const deaths = new Map(after.services.map((x) => [x.name, x.deaths]))
  const lost = new Map(after.services.map((x) => [x.name, x.totals.lost]))
  const down = (name: string) => !running.has(name) && (deaths.get(name) ?? 0) > 0 && (processes?.has(name) ?? true)
  const lines: string[] = []
  for (const [name, t] of b) {
    if (down(name)) {
      const n = deaths.get(name)!
      const l = lost.get(name) ?? 0
      lines.push(`${(labels.get(name) ?? name).padEnd(12)} down: no instance running, ${n} death${n === 1 ? '' : 's'} so far` +
        `${l ? `, ${l} packet${l === 1 ? '' : 's'} lost with ${n === 1 ? 'it' : 'them'}` : ''}  total rx ${t.rx} tx ${t.tx} drop ${t.drop}`)
      continue
    }
    if (!running.has(name)) continue
    const p = a.get(name) ?? { rx: 0, tx: 0, rxBytes: 0, drop: 0, backpressure: 0 }
    const rate = (x: number, y: number) => formatRate(Math.max(0, x - y) / seconds)
    lines.push(
      `${(labels.get(name) ?? name).padEnd(12)} rx ${rate(t.rx, p.rx).padStart(6)}pps ${rate(t.rxBytes * 8, p.rxBytes * 8).padStart(6)}bps` +
        `  tx ${rate(t.tx, p.tx).padStart(6)}pps  drop ${rate(t.drop, p.drop).padStart(6)}pps` +
        `  backpressure ${rate(t.backpressure, p.backpressure).padStart(6)}/s  total rx ${t.rx} tx ${t.tx} drop ${t.drop} backpressure ${t.backpressure}` +
        (atShare.has(name) ? `  holds its share of the pool (${after.pool.share} buffers): given no more` : ''),
    )
  }
  const m = after.manager, pm = before.manager
  const busy = m.loops - pm.loops ? ((m.busyLoops - pm.busyLoops) / (m.loops - pm.loops)) * 100 : 0
  lines.push(
    `${'manager'.padEnd(12)} routed ${formatRate((m.routed - pm.routed) / seconds)}pps  busy ${busy.toFixed(0)}%  sleeps ${m.sleeps}  ` +
      `pool ${after.pool.inUse}/${after.pool.buffers} in use` +
      // While a capture taps the chain, or its last copies were made in this interval.
      (m.taps || m.captured > pm.captured ? `  capture: ${m.taps} taps, copies ${formatRate((m.captured - pm.captured) / seconds)}/s, lost ${m.captureLost}` : ''),
  )
  return lines
}

/** Row labels for a chain's placement groups, as the dashboard's: 'edge(fw+nat)' for the slot named after fw. */
export function groupLabels(chain: Chain): Map<string, string> {
  return new Map([...chain.groups].map(([group, members]) => [members[0], groupLabel(group, members)]))
}

/** The endpoints a chain runs processes for, by the name their slots bear (a group's first member's). */
export function processNames(chain: Chain): Set<string> {
  return new Set([...chain.endpoints.values()].filter((e) => startsProcess(chain, e)).map((e) => e.name))
}
