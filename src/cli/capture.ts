// `xio-chain capture --prefix P --at fw.out [--at nat.rx …] [-c N] [--filter '…'] -w file.pcap|-`:
// copies of the packets seen at endpoints of a running chain, as classic pcap, to a file or to
// standard output (`| tcpdump -nr -`, `| wireshark -k -i -`).
//
// It attaches as a capture endpoint (src/xio/capture.ts): the manager copies what its taps see
// into its RX ring, and only while it is attached. A reader slower than the chain loses copies,
// never the chain's packets: when the output backs up, this stops taking copies, its ring
// fills, and the manager counts the copies it could not deliver; they are said at exit.
//
// --at names what to watch, from the chain's own names:
//   fw.rx      every packet delivered to fw
//   fw.tx      every packet fw sends on, through any gate
//   fw.out     what fw sends through its gate `out` (what the link from fw.out carries); a
//              gate by number works too (fw.0)
//   fw->nat    what fw sends to nat, through whichever of its gates lead there (quote it in
//              a shell, where > redirects)
//   edge.rx    what enters placement group edge, from outside it (edge.tx: what leaves it);
//              links inside a group are calls the manager never sees
import { createWriteStream, openSync } from 'node:fs'
import { specNames } from './spec-names.ts'
import { fileProblem, PcapStreamWriter } from '../chain/pcap.ts'
import { attachCapture, layout, observe, XioError, type RegionSnapshot, type Tap } from '../xio/index.ts'
import { compileFilter, FilterError, type Filter } from './capture-filter.ts'

export interface CaptureOptions {
  prefix: string
  at: string[]
  count?: number
  filter?: string
  write: string
}

class CaptureError extends Error {}

/** A copy the output has not taken yet beyond this many bytes: stop taking copies until it drains. */
const BACKLOG_BYTES = 1 << 20
const BURST = 64

interface Named {
  taps: Tap[]
  /** Per tap, what --at said (a group's edge.tx may be several taps). */
  labels: string[]
  /** Taps that see only part of what they name (a placement group's inner links are calls). */
  warnings: string[]
}

/**
 * Resolves --at values to taps, or says in one line what exists. `groups` gives each grouped
 * endpoint its placement group: a link between two members is a call inside one process,
 * which the manager never sees, so a tap that would see only such links is refused, naming
 * where the group's packets can be seen, and one that sees part of its traffic is warned of.
 */
export function resolveTaps(at: string[], snapshot: RegionSnapshot, gates: Map<string, readonly string[]>, groups = new Map<string, string>(), silent = new Map<string, string>()): Named {
  const services = snapshot.services
  const byName = new Map(services.map((s) => [s.name, s]))
  const nameOf = new Map(services.map((s) => [s.id, s.name]))
  const gatesOf = (name: string): string[] => {
    const s = byName.get(name)!
    const named = gates.get(name)
    return (named ?? s.routes.map((_, g) => String(g)).filter((g) => s.routes[Number(g)] !== null)).slice()
  }
  const gateName = (name: string, g: number) => gates.get(name)?.[g] ?? String(g)
  const groupNames = new Set(groups.values())
  const together = (a: string, b: string | undefined) => b !== undefined && groups.get(a) !== undefined && groups.get(a) === groups.get(b)
  const targetsOf = (name: string) => byName.get(name)!.routes.flatMap((r, g) => (r === null ? [] : [{ gate: g, to: nameOf.get(r) }]))
  const sendersTo = (name: string) => services.filter((s) => s.routes.includes(byName.get(name)!.id)).map((s) => s.name)
  const peersOf = (name: string, where: 'rx' | 'tx') => (where === 'rx' ? sendersTo(name) : targetsOf(name).map((t) => t.to))
  // Instances of one endpoint hand packets to one another through the manager (a NAT's, to the
  // instance holding the session), so its input is seen there even in a group.
  const handedOver = (name: string, where: 'rx' | 'tx') => where === 'rx' && byName.get(name)!.instances > 1
  // rx or tx of an endpoint whose every peer that way is a member of its group: calls only.
  const onlyCalls = (name: string, where: 'rx' | 'tx') => {
    const peers = peersOf(name, where)
    return peers.length > 0 && peers.every((p) => together(name, p)) && !handedOver(name, where)
  }
  const leadsInside = (name: string, gate: string) => together(name, targetsOf(name).find((t) => gateName(name, t.gate) === gate)?.to)
  // The taps that see something, as a refusal lists them.
  const exists = () => services.map((s) => {
    const taps = silent.has(s.name) ? ['rx'] : ['rx', 'tx', ...gatesOf(s.name)]
    return `${s.name}: ${taps.filter((w) => (w === 'rx' || w === 'tx' ? !onlyCalls(s.name, w) : !leadsInside(s.name, w))).join(', ')}`
  }).concat([...groupNames].filter((g) => !byName.has(g)).map((g) => `group ${g}: rx, tx`)).join('; ')
  // Where a group's packets pass the manager: its members' inputs from outside it, and their
  // gates that lead out of it. `--at edge.rx` and `edge.tx` name them by the group's name.
  const membersOf = (group: string) => services.filter((s) => groups.get(s.name) === group)
  const entering = (group: string) => membersOf(group).filter((s) => sendersTo(s.name).some((from) => !together(s.name, from)))
  const entries = (group: string) => entering(group).map((s): [Tap, string] => [{ service: s.id, kind: 'rx' }, `${s.name}.rx`])
  const exits = (group: string) => membersOf(group).flatMap((s) => targetsOf(s.name)
    .filter((t) => !together(s.name, t.to))
    .map((t): [Tap, string] => [{ service: s.id, kind: 'gate', gate: t.gate }, `${s.name}.${gateName(s.name, t.gate)}`]))
  const labelled = (named: [Tap, string][]) => named.map(([, label]) => label).join(', ')
  const edges = (group: string) => {
    const [inward, outward] = [entries(group), exits(group)]
    return [...(inward.length ? [`${group}.rx (${labelled(inward)})`] : []), ...(outward.length ? [`${group}.tx (${labelled(outward)})`] : [])].join(', ')
  }
  const inside = (text: string, name: string, what: string) =>
    new CaptureError(`--at ${text}: ${what} inside placement group '${groups.get(name)}', a call in one process that the manager never sees; ` +
      `its packets can be seen where they enter or leave it: ${edges(groups.get(name)!)}`)
  const groupTaps = (text: string, group: string, where: string): [Tap, string][] => {
    if (where === 'rx') {
      const seen = entries(group)
      if (!seen.length) throw new CaptureError(`--at ${text}: nothing enters placement group '${group}' from outside it`)
      for (const { name } of entering(group)) {
        if (handedOver(name, 'rx')) warnings.push(`--at ${text}: ${name}.rx also sees what ${name}'s instances hand one another`)
      }
      return seen
    }
    if (where === 'tx') {
      const seen = exits(group)
      if (!seen.length) throw new CaptureError(`--at ${text}: nothing leaves placement group '${group}' (no member's gate leads out of it)`)
      return seen
    }
    throw new CaptureError(`--at ${text}: say ${group}.rx (what enters placement group '${group}') or ${group}.tx (what leaves it)`)
  }
  const taps: Tap[] = [], labels: string[] = [], warnings: string[] = []
  const add = (tap: Tap, label: string) => {
    taps.push(tap)
    labels.push(label)
  }
  for (const text of at) {
    const link = /^\s*(\S+?)\s*->\s*(\S+)\s*$/.exec(text)
    if (link) {
      const [, from, to] = link
      const source = byName.get(from), target = byName.get(to)
      if (!source || !target) throw new CaptureError(`--at ${text}: no endpoint '${source ? to : from}' on prefix '${snapshot.prefix}' (have: ${exists()})`)
      const wired = source.routes.flatMap((r, g) => (r === target.id ? [g] : []))
      if (!wired.length) throw new CaptureError(`--at ${text}: ${from} has no gate linked to ${to} (have: ${exists()})`)
      if (together(from, to)) throw inside(text, from, `${from} -> ${to} is a link`)
      for (const g of wired) add({ service: source.id, kind: 'gate', gate: g }, text)
      continue
    }
    const dot = text.lastIndexOf('.')
    const name = dot > 0 ? text.slice(0, dot) : text
    const where = dot > 0 ? text.slice(dot + 1) : ''
    const s = byName.get(name)
    if (!s && groupNames.has(name)) {
      for (const [tap] of groupTaps(text, name, where)) add(tap, text)
      continue
    }
    if (!s) throw new CaptureError(`--at ${text}: no endpoint '${name}' on prefix '${snapshot.prefix}' (have: ${exists()})`)
    const quiet = silent.get(name)
    if (!where && quiet) throw new CaptureError(`--at ${text}: say ${name}.rx, what reaches it (${quiet}, it sends nothing)`)
    if (!where) throw new CaptureError(`--at ${text}: say ${name}.rx (what it receives), ${name}.tx (all it sends) or ${name}.<gate> (have: ${exists()})`)
    if (quiet && where !== 'rx') throw new CaptureError(`--at ${text}: ${name} sends nothing (${quiet}); ${name}.rx sees what reaches it`)
    if (where === 'rx' || where === 'tx') {
      const mates = peersOf(name, where).filter((p) => together(name, p))
      if (onlyCalls(name, where)) throw inside(text, name, `everything ${name} ${where === 'rx' ? 'receives' : 'sends'} comes by links`)
      if (mates.length) {
        const seen = where === 'rx' ? `receives from outside placement group '${groups.get(name)}'${handedOver(name, where) ? ' and what its instances hand one another' : ''}` : `sends to outside placement group '${groups.get(name)}'`
        warnings.push(`--at ${text}: only what ${name} ${seen}; ${where === 'rx' ? 'from' : 'to'} ${[...new Set(mates)].join(', ')} it is a call the manager never sees`)
      }
      add({ service: s.id, kind: where }, text)
      continue
    }
    const names = gates.get(name)
    const gate = names?.includes(where) ? names.indexOf(where) : /^\d+$/.test(where) ? Number(where) : -1
    if (gate < 0 || gate >= s.routes.length || (names && gate >= names.length))
      throw new CaptureError(`--at ${text}: ${name} has no gate '${where}' (have: ${exists()})`)
    const to = s.routes[gate] === null ? undefined : nameOf.get(s.routes[gate]!)
    if (together(name, to)) throw inside(text, name, `${name}.${where} leads to ${to}`)
    add({ service: s.id, kind: 'gate', gate }, text)
  }
  if (taps.length > layout.capture.maxTaps) throw new CaptureError(`--at: ${taps.length} taps; a capture takes at most ${layout.capture.maxTaps}`)
  return { taps, labels, warnings }
}

/** The output stream, opened before anything is attached: an unwritable file is one line, at once. */
function openOutput(target: string): NodeJS.WritableStream {
  if (target === '-') {
    if (process.stdout.isTTY) throw new CaptureError('-w -: standard output is a terminal; pipe it (| tcpdump -nr -) or give a file')
    return process.stdout
  }
  let fd: number
  try {
    fd = openSync(target, 'w')
  } catch (e) {
    throw new CaptureError(`-w ${target}: cannot write: ${fileProblem(e)}`)
  }
  return createWriteStream('', { fd })
}

/** Runs a capture to its end; returns the exit status (errors are said on stderr in one line). */
export async function captureCommand(options: CaptureOptions): Promise<number> {
  try {
    return await run(options)
  } catch (e) {
    if (e instanceof CaptureError || e instanceof FilterError || e instanceof XioError) {
      process.stderr.write(`xio-chain capture: ${e.message}\n`)
      return 1
    }
    throw e
  }
}

async function run(options: CaptureOptions): Promise<number> {
  if (options.count !== undefined && !(Number.isInteger(options.count) && options.count > 0))
    throw new CaptureError(`-c ${options.count}: expected a number of packets above 0`)
  // Everything is checked against the chain before a copy is asked for.
  const observer = observe(options.prefix)
  let named: Named, filter: Filter | null
  try {
    const snapshot = observer.view.snapshot()
    const names = await specNames(snapshot, observer.view.chainFile())
    named = resolveTaps(options.at, snapshot, names.gates, names.groups, names.silent)
    filter = options.filter === undefined ? null : compileFilter(options.filter, (name) => observer.view.serviceId(name))
  } finally {
    observer.close()
  }
  for (const warning of named.warnings) process.stderr.write(`${warning}\n`)
  const out = openOutput(options.write)
  const capture = attachCapture(options.prefix)
  let stopping: string | null = null
  let wake = () => {}
  const stopped = new Promise<void>((resolve) => (wake = resolve))
  const stop = (why: string) => {
    stopping ??= why
    wake()
  }
  const onSignal = () => stop('signal')
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  out.on('error', (e: NodeJS.ErrnoException) => stop(e.code === 'EPIPE' ? 'reader gone' : `cannot write: ${fileProblem(e)}`))

  const writer = new PcapStreamWriter(out)
  let seen = 0, filtered = 0
  let failure: unknown = null
  const limit = options.count ?? Infinity
  const burst = new Uint32Array(BURST)
  try {
    if (!capture.setTaps(named.taps)) throw new CaptureError(`the manager of prefix '${options.prefix}' did not take the taps within 2 s`)
    while (stopping === null) {
      const n = capture.rx(burst)
      if (!n) {
        await Promise.race([capture.readable(), stopped]).catch((e: unknown) => {
          if (e instanceof XioError && e.code === 'MANAGER_GONE') stop('chain stopped')
          else throw e
        })
        continue
      }
      for (let i = 0; i < n && writer.count < limit; i++) {
        const d = burst[i]
        const at = capture.offset(d), length = capture.length(d)
        seen++
        if (filter && !filter.keep(capture.bytes, capture.region.view, at, length, capture.inPort(d))) {
          filtered++
          continue
        }
        writer.write(capture.bytes, at, length, capture.timestamp(d))
      }
      capture.free(burst, n)
      writer.flush()
      if (writer.count >= limit) stop('count')
      // The output is behind: take no copies until it catches up (the manager counts the ones
      // that do not fit meanwhile).
      if (stopping === null && ((out as { writableLength?: number }).writableLength ?? 0) > BACKLOG_BYTES)
        await Promise.race([new Promise((r) => out.once('drain', r)), stopped])
    }
  } catch (e) {
    failure = e
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  // No taps left before the counters are read: after this, nothing more is copied for us.
  let lost = 0
  try {
    capture.setTaps([], 1000)
    lost = capture.counters().captureLost
  } catch {
    // Cut off, or the chain is gone: what was counted is what there is.
  }
  capture.detach()
  writer.flush()
  const why = stopping as string | null
  const finished = why === 'reader gone' ? false : await endOutput(out, options.write === '-' ? 2000 : 10_000)
  if (failure) throw failure
  const lines = [`${writer.count} packet${writer.count === 1 ? '' : 's'} captured at ${[...new Set(named.labels)].join(', ')}`]
  if (filter) lines.push(`${seen} copies seen, ${filtered} did not match the filter`)
  if (lost) lines.push(`${lost} copies lost: the reader was slower than the chain, or copies were over their share of the pool`)
  if (why === 'chain stopped') lines.push(`the chain on prefix '${options.prefix}' has stopped`)
  if (!finished && why !== 'reader gone') lines.push('the output did not take everything written to it before the capture ended')
  if (why?.startsWith('cannot write')) lines.push(`xio-chain capture: -w ${options.write}: ${why.slice('cannot write: '.length)}`)
  const status = why?.startsWith('cannot write') ? 1 : 0
  // Said before any exit below: standard error may be a pipe that takes it asynchronously.
  await new Promise((resolve) => process.stderr.write(`${lines.join('\n')}\n`, resolve))
  // Standard output still holding what a reader never took would keep the process alive.
  if (!finished) process.exit(status)
  return status
}

/** Ends the output and waits until everything written reached it (false: not within timeoutMs). */
function endOutput(out: NodeJS.WritableStream, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    const done = () => {
      clearTimeout(timer)
      resolve(true)
    }
    if (out === process.stdout) {
      // Standard output is not ended (Node owns it): written through is enough.
      if (!process.stdout.writableLength) return done()
      process.stdout.once('drain', done)
      process.stdout.once('error', done)
      return
    }
    out.once('error', done)
    out.end(done)
  })
}
