// What each NF counts for itself (published into its slot about twice a second): firewall
// rule hits by rule, NAT mappings and translations, interface ports' frames and drops. Unknown
// NFs show their counters as named. For every NF, what its runner measured comes first: faults
// of the NF's own code, then how long its bursts take.
import { Text } from 'ink'
import { duration, si } from '../format.ts'
import { DROP_REASON } from '../../xio/nf-types.ts'
import { isBurstTime } from '../../xio/burst-times.ts'
import type { DashboardModel, NfInfo } from '../model.ts'
import type { PanelContent } from './panel.tsx'

type Item = [name: string, value: string]

function firewallItems(nf: NfInfo): Item[] {
  const c = nf.counters
  const items: Item[] = []
  const rules = Object.keys(c)
    .map((k) => /^rules\/(\d+)\/packets$/.exec(k))
    .filter((m) => m !== null)
    .map((m) => Number(m![1]))
    .sort((a, b) => a - b)
  for (const i of rules) items.push([nf.rules?.[i] ?? `rule ${i}`, si(c[`rules/${i}/packets`])])
  if ('defaultPackets' in c) items.push(['default', si(c.defaultPackets)])
  const lookups = (c.cacheHits ?? 0) + (c.cacheMisses ?? 0)
  if (lookups) items.push(['flow cache hits', `${Math.round((c.cacheHits / lookups) * 100)}%`])
  if ('conntrackActive' in c) items.push(['conntrack', si(c.conntrackActive)])
  return items
}

function natItems(nf: NfInfo): Item[] {
  const c = nf.counters
  const items: Item[] = [
    ['mappings', si(c.mappingsActive)],
    ['sessions', si(c.sessionsActive)],
    ['created', si(c.sessionsCreated)],
    ['expired', si(c.sessionsExpired)],
    ['out', si(c.translatedOut)],
    ['in', si(c.translatedIn)],
  ]
  // A NAT spread over instances: what this one passed to the instance holding the session.
  if ('handedOff' in c) items.push(['handed on', si(c.handedOff)])
  return items
}

// An interface port: frames each way, and whatever went wrong, by name, only once it has.
function interfaceItems(nf: NfInfo): Item[] {
  const c = nf.counters
  const items: Item[] = [
    ['rx frames', si(c.rxFrames)],
    ['tx frames', si(c.txFrames)],
  ]
  const problems = [
    ['kernelDrops', 'kernel drops'], ['oversize', 'oversize'], ['runts', 'runts'], ['txErrors', 'tx errors'],
    ['linkErrors', 'link errors'], ['poolWaits', 'pool waits'], ['checksumsCompleted', 'checksums completed'],
  ] as const
  for (const [key, name] of problems) if (c[key]) items.push([name, si(c[key])])
  return items
}

// The NF's own bugs, counted by the runner (src/xio/nf-faults.ts), lead its line whatever it
// is, then how long its bursts take, then why it drops packets, the commonest reasons first.
const FAULTS = [
  [`${DROP_REASON}processThrew`, 'process() threw'], [`${DROP_REASON}badVerdict`, 'bad verdicts'], [`${DROP_REASON}badLength`, 'bad lengths'],
  ['tickErrors', 'tick() threw'], ['countersErrors', 'counters() threw'],
] as const
const isFault = (key: string) => FAULTS.some(([k]) => k === key)
/** Drop reasons shown per NF; the rest are summed as "other drops". */
const TOP_DROPS = 3

function dropItems(nf: NfInfo): Item[] {
  const reasons = Object.entries(nf.counters)
    .filter(([k, v]) => k.startsWith(DROP_REASON) && !isFault(k) && v > 0)
    .sort((a, b) => b[1] - a[1])
  // A firewall's drop rules by their comments, as its rule hits are.
  const reason = (k: string) => k.slice(DROP_REASON.length).replace(/^rule\/(\d+)$/, (_, i: string) => nf.rules?.[Number(i)] ?? `rule ${i}`)
  const items = reasons.slice(0, TOP_DROPS).map(([k, v]): Item => [`drop ${reason(k)}`, si(v)])
  const rest = reasons.slice(TOP_DROPS).reduce((n, [, v]) => n + v, 0)
  if (rest) items.push(['other drops', si(rest)])
  return items
}

function timingItems(c: Record<string, number>): Item[] {
  if (c.burstP50Ns === undefined) return []
  return [['burst p50', duration(c.burstP50Ns)], ['p99', duration(c.burstP99Ns)], ['per packet', duration(c.nsPerPacket)]]
}

function items(nf: NfInfo): Item[] {
  const runner: Item[] = [
    ...FAULTS.filter(([key]) => nf.counters[key]).map(([key, name]): Item => [name, si(nf.counters[key])]),
    ...timingItems(nf.counters),
    ...dropItems(nf),
  ]
  if (nf.kind === 'firewall') return [...runner, ...firewallItems(nf)]
  if (nf.kind === 'nat') return [...runner, ...natItems(nf)]
  if (nf.kind === 'interface') return [...runner, ...interfaceItems(nf)]
  const own = Object.entries(nf.counters).filter(([k]) => !k.startsWith(DROP_REASON) && !isFault(k) && !isBurstTime(k))
  return [...runner, ...own.map(([k, v]): Item => [k, si(v)])]
}

/** Items packed into lines of `width`, the NF's name leading its first. */
export function nfLines(nf: NfInfo, width: number): string[][] {
  const indent = 12
  const lines: string[][] = [[]]
  let used = indent
  for (const [name, value] of items(nf)) {
    const text = `${name} ${value}`
    if (used + text.length + 2 > width && lines.at(-1)!.length) {
      lines.push([])
      used = indent
    }
    lines.at(-1)!.push(text)
    used += text.length + 2
  }
  return lines
}

export function nfsContent(model: DashboardModel, width: number): PanelContent {
  const lines = model.nfs.flatMap((nf) =>
    nfLines(nf, width).map((parts, i) => (
      <Text key={i}>
        <Text bold color="cyan">
          {(i ? '' : nf.label).slice(0, 11).padEnd(12)}
        </Text>
        {parts.join('  ')}
      </Text>
    )),
  )
  return { lines }
}
