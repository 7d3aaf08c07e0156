// `xio-chain trace --prefix P [-c N] [--json]`: follows the next N packets that enter a running
// chain hop by hop, as VPP's `trace add` does: every endpoint a packet left, what it did with
// it (the gate it took, a drop, no route), why (the NF's note: the counters process() moved,
// e.g. "rule 0", "drop/noMapping", or the NF's own explain(), a NAT's "new map :20001"), when,
// and the packet as it was at each hop (a NAT's rewrite shows).
//
// It attaches as a capture endpoint with a trace tap (src/xio/capture.ts): the manager marks
// the next N packets sent by the endpoint that brought them in (a port), and copies each marked
// packet every time an endpoint sends or drops it; NF runners note why for marked packets
// (src/xio/trace-notes.ts). A packet's trace ends where it leaves the chain (sent to a port) or
// is dropped, and is printed then, as the trace goes on; what a packet does after that (a port
// that passes the very packet on) is printed as its continuation, and packets still on their way when the
// command ends (a router holding them) at its end, as is everything with --json. The command
// ends once N packets were seen (or copies were lost, so some never will be) and no hop came
// for a second, when the chain stops, or on Ctrl-C. Hops are shown in the order the manager
// made them, timed on a clock that never steps.
import { formatIpv4, formatIpv6, Headers, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, parse, PARSE_ARP, PARSE_IPV4, PARSE_IPV6 } from '../packet/index.ts'
import { attachCapture, layout, observe, XioError, type RegionSnapshot } from '../xio/index.ts'
import { MAX_TRACED } from '../xio/capture.ts'
import { specNames, type SpecNames } from './spec-names.ts'

export interface TraceOptions {
  prefix: string
  count: number
  json: boolean
  /** Seconds without a hop after which the trace ends (default 1; longer for NFs that hold packets a while). */
  quiet?: number
}

class TraceError extends Error {}

/** No hop for this long, every packet seen: the trace has ended (--quiet: a router holds packets up to 3 s for ARP). */
const QUIET_S = 1
const BURST = 64

export interface Hop {
  /** µs since the packet's first hop. */
  atUs: number
  from: string
  /**
   * 'sent' through a gate (to the endpoint it leads to), 'dropped' by `from`, 'consumed' by
   * `from` (it ended there, as meant: CONSUMED), 'no route' (its gate leads nowhere), or 'lost'
   * (too long for a buffer, or every instance of its next hop died).
   */
  verdict: 'sent' | 'dropped' | 'consumed' | 'no route' | 'lost'
  gate?: string
  to?: string
  why: string
  /** The packet as it left `from`: "udp 10.0.0.1:1024 > 198.51.100.1:80, length 18". */
  packet: string
  length: number
}

export interface TracedPacket {
  id: number
  /** Wall-clock time of its first hop, ISO 8601 to the microsecond (UTC). */
  time: string
  hops: Hop[]
}

/** ns on the monotonic clock (the manager's hop stamps, as process.hrtime) as ISO 8601 to the µs. */
function wallTime(monotonicNs: bigint, offsetNs: bigint): string {
  const ns = monotonicNs + offsetNs
  const iso = new Date(Number(ns / 1_000_000n)).toISOString()
  return `${iso.slice(0, 23)}${String((ns / 1000n) % 1000n).padStart(3, '0')}Z`
}

/** One line about a frame, tcpdump-like. */
export function describeFrame(bytes: Uint8Array, at: number, length: number): string {
  const h = new Headers()
  const st = parse(bytes, at, length, h)
  if (st === PARSE_ARP) return 'arp'
  if (st !== PARSE_IPV4 && st !== PARSE_IPV6) return st < 0 ? `malformed (${length} bytes)` : `ethertype 0x${h.etherType.toString(16)}`
  const ip = (v4: number, v6: Int32Array) => (st === PARSE_IPV4 ? formatIpv4(v4) : formatIpv6(v6))
  const src = ip(h.src, h.src6), dst = ip(h.dst, h.dst6)
  const proto = h.proto === IPPROTO_TCP ? 'tcp' : h.proto === IPPROTO_UDP ? 'udp' : h.proto === IPPROTO_ICMP ? 'icmp' : `proto ${h.proto}`
  // With its payload's length, as tcpdump: two packets of one flow differ by it at least.
  if (h.proto === IPPROTO_TCP && h.l4 >= 0) {
    const payload = Math.max(0, h.l3End - h.l4 - (bytes[h.l4 + 12] >> 4) * 4)
    return `${proto} ${src}:${h.srcPort} > ${dst}:${h.dstPort} [${tcpFlags(h.tcpFlags)}], length ${payload}`
  }
  if (h.proto === IPPROTO_UDP && h.l4 >= 0) return `${proto} ${src}:${h.srcPort} > ${dst}:${h.dstPort}, length ${Math.max(0, h.l3End - h.l4 - 8)}`
  return `${proto} ${src} > ${dst}`
}

/** TCP flags as tcpdump writes them: S, F, R, P, U, then '.' for ACK ("S." a SYN-ACK); "none" for none. */
function tcpFlags(flags: number): string {
  const letters = [[0x02, 'S'], [0x01, 'F'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x10, '.']] as const
  return letters.map(([bit, letter]) => (flags & bit ? letter : '')).join('') || 'none'
}

/** A hop's time since the packet's first: µs below a second, else seconds to the µs (a router's hold). */
function hopTime(atUs: number): string {
  return atUs < 1e6 ? `+${atUs.toFixed(1)}µs` : `+${(atUs / 1e6).toFixed(6)}s`
}

/** A note with each rule it names followed by the rule's comment: "drop/rule/2 (telnet)". */
function withComments(why: string, comments: Array<string | undefined> | undefined): string {
  if (!comments) return why
  return why.replace(/\b(rule[ /])(\d+)\b/g, (whole, _: string, i: string) => (comments[Number(i)] ? `${whole} (${comments[Number(i)]})` : whole))
}

/**
 * The note of a hop from `endpoint`, rules commented: a placement group's note says each
 * member's part behind its name ("fw: rule 0 nat: map :20003"), each commented from its own rules.
 */
export function commentedNote(why: string, endpoint: string, spec: Pick<SpecNames, 'rules' | 'groups'>): string {
  const group = spec.groups.get(endpoint)
  if (group === undefined) return withComments(why, spec.rules.get(endpoint))
  const members = [...spec.groups].filter(([, g]) => g === group).map(([name]) => name)
  const escaped = members.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  const starts = [...why.matchAll(new RegExp(`(?<=^|\\s)(${escaped.join('|')}): `, 'g'))]
  if (!starts.length) return withComments(why, spec.rules.get(endpoint))
  let out = why.slice(0, starts[0].index)
  starts.forEach((m, k) => {
    const end = k + 1 < starts.length ? starts[k + 1].index : why.length
    out += m[0] + withComments(why.slice(m.index! + m[0].length, end), spec.rules.get(m[1]))
  })
  return out
}

export async function traceCommand(options: TraceOptions): Promise<number> {
  // From the start: a Ctrl-C while it attaches ends it as one later does (nothing seen yet).
  const stop = { asked: false }
  const onSignal = () => (stop.asked = true)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await run(options, stop)
  } catch (e) {
    if (e instanceof TraceError || e instanceof XioError) {
      process.stderr.write(`xio-chain trace: ${e.message}\n`)
      return 1
    }
    throw e
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function run(options: TraceOptions, stop: { asked: boolean }): Promise<number> {
  if (!(Number.isInteger(options.count) && options.count >= 1 && options.count <= MAX_TRACED))
    throw new TraceError(`-c ${options.count}: expected a number of packets from 1 to ${MAX_TRACED}`)
  const quietMs = (options.quiet ?? QUIET_S) * 1000
  if (!(quietMs > 0 && quietMs <= 3_600_000)) throw new TraceError(`--quiet ${options.quiet}: expected seconds above 0, at most an hour`)
  const observer = observe(options.prefix)
  let snapshot: RegionSnapshot, spec: SpecNames
  try {
    snapshot = observer.view.snapshot()
    spec = await specNames(snapshot, observer.view.chainFile())
  } finally {
    observer.close()
  }
  const names = new Map(snapshot.services.map((s) => [s.id, s.name]))
  const routes = new Map(snapshot.services.map((s) => [s.id, s.routes]))
  const nameOf = (id: number) => names.get(id) ?? `endpoint ${id}`
  const gateName = (service: number, gate: number) => spec.gates.get(nameOf(service))?.[gate] ?? String(gate)

  const capture = attachCapture(options.prefix)
  // A reader that went away (`| head`) ends the trace as Ctrl-C would, with nothing more written.
  let readerGone = false
  const onOutputError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e
    readerGone = stop.asked = true
  }
  process.stdout.on('error', onOutputError)
  // Hops are stamped on the monotonic clock (only differences matter to them); a packet's
  // wall-clock time is that of its first hop, through the offset between the two clocks
  // (performance.timeOrigin + now(): the wall clock to the µs, where Date.now() has whole ms).
  const offset = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - process.hrtime.bigint()
  // By the manager's number for each packet, numbered as first seen; `first`: its first hop's
  // stamp; `shown`: its hops printed so far.
  type Following = TracedPacket & { first: bigint; shown: number }
  const packets = new Map<number, Following>()
  // What is sent to a port has left the chain; without the spec, only a drop is known to end a trace.
  const ends = (hop: Hop) => hop.verdict !== 'sent' || (hop.to !== undefined && spec.ports.has(hop.to))
  const show = (packet: Following) => {
    if (!readerGone) process.stdout.write(`${packetLines(packet, packet.shown).join('\n')}\n`)
    packet.shown = packet.hops.length
  }
  let lastHop = performance.now()
  let chainGone = false
  const burst = new Uint32Array(BURST)
  const lost = () => capture.counters().captureLost
  if (!capture.setTaps([{ kind: 'trace', packets: options.count }])) throw new TraceError(`the manager of prefix '${options.prefix}' did not take the trace within 2 s`)
  if (!options.json) process.stderr.write(`tracing the next ${options.count} packet${options.count === 1 ? '' : 's'} to enter chain '${options.prefix}'; Ctrl-C ends it\n`)
  while (!stop.asked && !(performance.now() - lastHop > quietMs && (packets.size >= options.count || lost() > 0))) {
    if (!capture.managerAlive()) {
      chainGone = true
      break
    }
    const n = capture.rxWait(burst, 50)
    if (n) lastHop = performance.now()
    for (let i = 0; i < n; i++) {
      const d = burst[i]
      const id = capture.trace(d)
      if (!id) continue
      const action = capture.action(d)
      const kind = action >>> 24, arg = action & 0xffffff
      const from = capture.from(d)
      const t = capture.timestamp(d)
      let packet = packets.get(id)
      if (!packet) {
        packet = { id: packets.size + 1, time: wallTime(t, offset), first: t, hops: [], shown: 0 }
        packets.set(id, packet)
      }
      const hop: Hop = {
        atUs: Number(t - packet.first) / 1000,
        from: nameOf(from),
        verdict: kind === layout.action.drop ? (arg === layout.dropConsumed ? 'consumed' : 'dropped') : kind === layout.action.lost ? (arg < layout.maxGates ? 'no route' : 'lost') : 'sent',
        why: commentedNote(capture.traceNote(d), nameOf(from), spec),
        packet: describeFrame(capture.bytes, capture.offset(d), capture.length(d)),
        length: capture.length(d),
      }
      if (kind === layout.action.gate || hop.verdict === 'no route') hop.gate = gateName(from, arg)
      if (kind === layout.action.gate) {
        const to = routes.get(from)?.[arg]
        if (to !== null && to !== undefined) hop.to = nameOf(to)
      }
      if (kind === layout.action.to) hop.to = nameOf(arg)
      if (kind === layout.action.toInstance) hop.to = `${nameOf(arg >>> 6)}#${arg & layout.maxInstanceNumber} (handoff)`
      packet.hops.push(hop)
      if (!options.json && ends(hop)) show(packet)
    }
    if (n) capture.free(burst, n)
    else await new Promise((r) => setImmediate(r))  // signals get their turn
  }
  let copiesLost = 0
  try {
    copiesLost = lost()
    capture.setTaps([], 1000)
  } catch {
    // The chain is gone: nothing more is copied anyway.
  }
  capture.detach()
  if (readerGone) return 0
  // With --json, every packet now, numbered as first seen; else those with hops not yet shown.
  if (options.json) {
    const traced: TracedPacket[] = [...packets.values()].map(({ id, time, hops }) => ({ id, time, hops }))
    process.stdout.write(`${JSON.stringify({ prefix: options.prefix, packets: traced }, null, 2)}\n`)
  } else {
    for (const packet of packets.values()) if (packet.shown < packet.hops.length) show(packet)
  }
  if (copiesLost) process.stderr.write(`${copiesLost} hop copies lost (the copies' share of the pool was spent, or this reader fell behind): some hops or packets are missing\n`)
  if (chainGone) {
    process.stderr.write(`the chain on prefix '${options.prefix}' has stopped\n`)
    return 1
  }
  if (packets.size < options.count) process.stderr.write(`${packets.size} of ${options.count} packets seen\n`)
  return 0
}

/** Each packet, then a line per hop; the packet shown again only where an NF changed it. */
export function render(traced: TracedPacket[]): string {
  return `${traced.flatMap((p) => packetLines(p, 0)).join('\n')}\n`
}

/** A packet's hops from `from` on, under its line (the first hop's) or, past that, a continuation's. */
function packetLines(p: TracedPacket, from: number): string[] {
  const lines = [from === 0 ? `packet ${p.id} at ${p.time.slice(11, 27)}: ${p.hops[0]?.packet ?? ''}` : `packet ${p.id}, continued:`]
  let shown = p.hops[from === 0 ? 0 : from - 1]?.packet
  for (const hop of p.hops.slice(from)) {
    // Sent by a gate, or with none: to an endpoint by name, or handed to one of its instances.
    const where = hop.verdict === 'sent' ? `${hop.from}${hop.gate === undefined ? '' : `.${hop.gate}`} -> ${hop.to ?? '?'}`
      : hop.verdict === 'dropped' ? `${hop.from} dropped it`
      : hop.verdict === 'consumed' ? `${hop.from} consumed it`
      : hop.verdict === 'no route' ? `${hop.from}.${hop.gate} leads nowhere` : `lost after ${hop.from}`
    const changed = hop.packet !== shown ? `  now ${hop.packet}` : ''
    shown = hop.packet
    lines.push(`  ${hopTime(hop.atUs).padStart(11)}  ${where.padEnd(28)} ${hop.why}${changed}`.trimEnd())
  }
  return lines
}
