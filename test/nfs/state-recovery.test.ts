// NF state that outlives the process (src/nfs/lib/state.ts): a NAT or firewall built over the
// state another one left resumes its sessions and tracked flows, and a state cut at any store
// (a process killed there) reads back sound, holding everything finished before the cut.
import test from 'ava'
import nat from '../../src/nfs/nat/index.ts'
import firewall from '../../src/nfs/firewall/index.ts'
import { PortPool, Sessions, sessionsStateBytes } from '../../src/nfs/nat/sessions.ts'
import { Conntrack, conntrackStateBytes } from '../../src/nfs/firewall/conntrack.ts'
import { stateTesting } from '../../src/nfs/lib/state.ts'
import { NAT_DEFAULTS } from '../../src/nfs/nat/config.ts'
import { timeoutsAt } from '../../src/nfs/lib/flow-state.ts'
import { formatIpv4, Headers, parse, parseIpv4 } from '../../src/packet/index.ts'
import { harness, type NFState } from '../../src/testing/index.ts'
import { ipv4Frame, ipv6Frame, type FrameSpec } from '../../src/testing/frames.ts'
import { EXT, headers, LAN, replyTo, T0, WAN } from './nat-helpers.ts'
import { rng } from '../helpers/rng.ts'

const NAT = { external: EXT, inside: '10.0.0.0/8', forwards: [{ proto: 'tcp' as const, port: 8080, to: '10.0.0.5:80' }] }
const natOn = (config: object, options: { now?: number; state?: NFState | null } = {}) =>
  harness(nat, { ...NAT, ...config }, { gates: { inside: LAN, outside: WAN }, now: T0, ...options })

/** 60 flows from 20 inside hosts (several flows per inside endpoint), TCP, UDP and ping. */
function flows(): FrameSpec[] {
  const out: FrameSpec[] = []
  for (let i = 0; i < 60; i++) {
    const src = `10.0.${i % 4}.${2 + (i % 20)}`
    const dst = `198.51.100.${1 + (i % 7)}`
    if (i % 5 === 4) out.push({ src, dst, proto: 'icmp', icmpType: 8, icmpId: 100 + (i % 20) })
    else out.push({ src, dst, proto: i % 2 ? 'udp' : 'tcp', srcPort: 30000 + (i % 20), dstPort: 1000 + i, tcpFlags: 0x10 })
  }
  return out
}

/** What the remote end answers to a packet as the NAT sent it: the reply, or the echo reply. */
function answerTo(frame: Uint8Array): Uint8Array {
  const h = headers(frame)
  if (h.proto !== 1) return replyTo(frame)
  return ipv4Frame({ src: formatIpv4(h.dst), dst: formatIpv4(h.src), proto: 'icmp', icmpType: 0, icmpId: h.icmpId })
}

const extPortOf = (frame: Uint8Array) => {
  const h = headers(frame)
  return h.proto === 1 ? h.icmpId : h.srcPort
}

test('a NAT restarted on its state resumes every session: flows keep their external ports, replies and forwards still come in', (t) => {
  const first = natOn({})
  const sent = flows().map((f) => first.send(ipv4Frame(f), { from: LAN }))
  t.true(sent.every((o) => o.verdict === 'outside'))
  const ports = sent.map((o) => extPortOf(o.frame))
  // A session through the port forward, opened from the outside.
  const forwarded = first.send(ipv4Frame({ src: '198.51.100.77', dst: EXT, srcPort: 5555, dstPort: 8080, tcpFlags: 0x02 }), { from: WAN })
  t.is(forwarded.verdict, 'inside')
  first.advance(1500)
  const before = first.counters()

  // A new process: its clock starts again from 0.
  const second = natOn({}, { now: 0, state: first.state })
  t.like(second.counters(), { sessionsResumed: before.sessionsActive, sessionsActive: before.sessionsActive, mappingsActive: before.mappingsActive })
  const again = flows().map((f) => second.send(ipv4Frame(f), { from: LAN }))
  t.deepEqual(again.map((o) => extPortOf(o.frame)), ports, 'every flow leaves by the port it had')
  t.deepEqual(sent.map((o) => second.send(answerTo(o.frame), { from: WAN }).verdict), sent.map(() => 'inside'), 'replies to what the first sent get in')
  const fwdReply = second.send(ipv4Frame({ src: '10.0.0.5', dst: '198.51.100.77', srcPort: 80, dstPort: 5555, tcpFlags: 0x12 }), { from: LAN })
  t.is(extPortOf(fwdReply.frame), 8080, 'the forwarded session answers from the forward\'s port')
  t.is(second.counters().sessionsCreated, 0, 'no session was made anew')
  // A new inside endpoint gets a port none of the resumed mappings has.
  const fresh = second.send(ipv4Frame({ src: '10.9.9.9', dst: '198.51.100.1', proto: 'udp', srcPort: 4444, dstPort: 53 }), { from: LAN })
  t.false(ports.includes(extPortOf(fresh.frame)))
})

test('resumed sessions expire on time: the new process\'s clock carries on from the state\'s', (t) => {
  const first = natOn({ timeouts: { udpUnreplied: 30 } })
  const a = first.send(ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'udp', srcPort: 1000, dstPort: 53 }), { from: LAN })
  const b = first.send(ipv4Frame({ src: '10.0.0.3', dst: '198.51.100.1', proto: 'udp', srcPort: 1000, dstPort: 53 }), { from: LAN })
  first.advance(10_000)
  // Restarted with its clock at 0: 10 s of the 30 have gone, whatever the new clock says.
  const second = natOn({ timeouts: { udpUnreplied: 30 } }, { now: 0, state: first.state })
  second.advance(19_000)
  t.is(second.send(replyTo(a.frame), { from: WAN }).verdict, 'inside', 'alive at 29 s')
  second.advance(2000)
  t.is(second.send(replyTo(b.frame), { from: WAN }).verdict, 'drop', 'gone at 31 s')
  t.is(second.counters()['drop/noMapping'], 1)
})

test('a NAT whose state was laid out for another capacity, or translates to another address, starts afresh; sessions outside a new port range go', (t) => {
  const first = natOn({ ports: [20000, 20099] })
  const sent = flows().map((f) => first.send(ipv4Frame(f), { from: LAN }))
  const mappings = first.counters().mappingsActive
  // Another capacity: another layout, so env.state gives zeroed memory.
  t.is(natOn({ ports: [20000, 20099], maxMappings: 1000 }, { state: first.state }).counters().sessionsResumed, 0)
  // Another external address: the checksum deltas are for the old one.
  t.is(natOn({ ports: [20000, 20099], external: '203.0.113.9' }, { state: { ...first.state!, buffer: first.state!.buffer.slice(0) } }).counters().sessionsResumed, 0)
  // A narrower range: the sessions of mappings whose port is outside it are dropped, the others kept.
  const narrow = natOn({ ports: [20000, 20004] }, { state: first.state })
  const kept = sent.filter((o) => extPortOf(o.frame) <= 20004)
  t.true(kept.length > 0 && kept.length < sent.length)
  t.is(narrow.counters().sessionsResumed, kept.length)
  t.true(narrow.counters().mappingsActive < mappings)
  for (const o of kept) t.is(narrow.send(answerTo(o.frame), { from: WAN }).verdict, 'inside')
})

test('a stateful firewall restarted on its state still lets replies of tracked IPv4 and IPv6 flows through a default drop', (t) => {
  const config = { default: 'drop' as const, stateful: true, rules: [{ action: 'allow' as const, in: 'lan' }] }
  const options = { endpoints: { lan: 1, wan: 2 }, now: T0 }
  const first = harness(firewall, config, options)
  const out = [
    ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'tcp', srcPort: 1234, dstPort: 443, tcpFlags: 0x02 }),
    ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'udp', srcPort: 1234, dstPort: 53 }),
    ipv6Frame({ src: '2001:db8::2', dst: '2001:db8:1::1', proto: 'tcp', srcPort: 1234, dstPort: 443, tcpFlags: 0x02 }),
    ipv6Frame({ src: '2001:db8::3', dst: '2001:db8:1::1', proto: 'udp', srcPort: 999, dstPort: 53 }),
  ]
  for (const f of out) t.is(first.send(f, { from: 1 }).verdict, 'out')
  const stranger = ipv4Frame({ src: '198.51.100.66', dst: '10.0.0.2', proto: 'udp', srcPort: 53, dstPort: 1234 })
  first.advance(500)
  const second = harness(firewall, config, { ...options, now: 0, state: first.state })
  t.like(second.counters(), { conntrackResumed: 4, conntrackActive: 4 })
  for (const f of out) t.is(second.send(reversed(f), { from: 2 }).verdict, 'out', 'a reply of a tracked flow')
  t.is(second.send(stranger, { from: 2 }).verdict, 'drop')
  // A stateless firewall asks for no state at all.
  t.is(harness(firewall, { default: 'allow' }).state, null)
})

/** A frame's reply: addresses and ports swapped (checksums are not the firewall's business). */
function reversed(frame: Uint8Array): Uint8Array {
  const b = frame.slice()
  const h = new Headers()
  parse(b, 0, b.length, h)
  const v6 = (b[14] >> 4) === 6
  const [sa, da, n] = v6 ? [22, 38, 16] : [26, 30, 4]
  const src = b.slice(sa, sa + n)
  b.copyWithin(sa, da, da + n)
  b.set(src, da)
  if (h.hasPorts) {
    const sp = b.slice(h.l4, h.l4 + 2)
    b.copyWithin(h.l4, h.l4 + 2, h.l4 + 4)
    b.set(sp, h.l4 + 2)
  }
  return b
}

// ---- Crash consistency: a state cut at every store ----

const CRASH = new Error('killed here')

/** Counts the stores made through the views of a state built while it is on; throws CRASH at store `at`. */
class StoreCutter {
  stores = 0
  at = Infinity
  on = false
  install(): void {
    stateTesting.wrap = <T extends Int32Array | Float64Array | Uint8Array>(view: T): T =>
      new Proxy(view, {
        set: (target, prop, value) => {
          if (this.on && ++this.stores >= this.at) throw CRASH
          ;(target as unknown as Record<string | symbol, unknown>)[prop] = value
          return true
        },
        get: (target, prop) => {
          const v = (target as unknown as Record<string | symbol, unknown>)[prop]
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
  }
  uninstall(): void {
    stateTesting.wrap = null
  }
}

interface Table<Op> {
  /** Builds (resumes) the table over a state at clock `now`. */
  make(state: ArrayBuffer, now: number): { apply(op: Op): void; list(now?: number): Map<string, string>; problems(): string[] }
  bytes: number
  ops: Op[]
  /** The clock once op i is done. */
  nowAfter(i: number): number
}

/**
 * For every op and every store it makes: the table resumed from the state cut at that store
 * is sound (problems() is empty, and it keeps working through the ops after), holds every
 * entry the op left alone (before and after it), and nothing that was in neither. A resume
 * cut at any of its own stores resumes the same. Returns how many cuts it tried.
 */
function everyCut<Op>(t: import('ava').ExecutionContext, table: Table<Op>): number {
  const cutter = new StoreCutter()
  let cuts = 0
  let state = new ArrayBuffer(table.bytes)
  let now = 0
  for (let i = 0; i < table.ops.length; i++) {
    const op = table.ops[i]
    const end = table.nowAfter(i)
    const beforeTable = table.make(state.slice(0), now)
    const before = beforeTable.list()
    const beforeLive = beforeTable.list(end)
    const done = state.slice(0)
    const whole = table.make(done, now)
    whole.apply(op)
    const after = whole.list()
    const afterLive = whole.list(end)
    // How many stores the op makes, then a cut at each.
    cutter.install()
    try {
      const counted = state.slice(0)
      const x = table.make(counted, now)
      cutter.stores = 0
      cutter.at = Infinity
      cutter.on = true
      x.apply(op)
      cutter.on = false
      const total = cutter.stores
      for (let at = 1; at <= total; at++) {
        const cut = state.slice(0)
        const y = table.make(cut, now)
        cutter.stores = 0
        cutter.at = at
        cutter.on = true
        t.throws(() => y.apply(op), { is: CRASH })
        cutter.on = false
        cuts++
        cutter.uninstall()
        const resumed = table.make(cut.slice(0), end)
        const problems = resumed.problems()
        if (problems.length) t.fail(`op ${i}, cut at store ${at} of ${total}: ${problems.join('; ')}`)
        const got = resumed.list()
        for (const [k, v] of got) if (before.get(k) !== v && after.get(k) !== v) t.fail(`op ${i}, cut ${at}: ${k} → ${v} was in neither the state before nor after`)
        // What lives on after the op and was there before it, the op left alone.
        for (const [k, v] of afterLive) if (beforeLive.get(k) === v && got.get(k) !== v) t.fail(`op ${i}, cut ${at}: ${k} → ${v}, untouched by the op, was lost`)
        cutter.install()
      }
    } finally {
      cutter.on = false
      cutter.uninstall()
    }
    state = done
    now = end
    // The resume itself, cut at each of its stores, then resumed again: the same table.
    if (i % 10 === 0) {
      const clean = table.make(state.slice(0), now).list()
      cutter.install()
      try {
        for (let at = 1; ; at++) {
          const cut = state.slice(0)
          cutter.stores = 0
          cutter.at = at
          cutter.on = true
          let finished = false
          try {
            table.make(cut, now)
            finished = true
          } catch (e) {
            if (e !== CRASH) throw e
          }
          cutter.on = false
          if (finished) break
          cuts++
          cutter.uninstall()
          const again = table.make(cut, now)
          t.deepEqual([...again.list()].sort(), [...clean].sort(), `resume cut at store ${at}`)
          t.deepEqual(again.problems(), [])
          cutter.install()
        }
      } finally {
        cutter.on = false
        cutter.uninstall()
      }
    }
  }
  return cuts
}

type NatOp =
  | { kind: 'out'; proto: number; inside: number; insidePort: number; remote: number; remotePort: number }
  | { kind: 'in'; proto: number; remote: number; remotePort: number; extPort: number }
  | { kind: 'forward'; remote: number; remotePort: number }
  | { kind: 'tick'; ms: number }

test('NAT sessions: the state cut at every store of 300 operations resumes sound, with every session the operation left alone', (t) => {
  const capacity = 24
  const timeouts = timeoutsAt({ udpUnreplied: 3, udp: 5, tcpTransitory: 4, tcpEstablished: 8, icmp: 2 }, '', NAT_DEFAULTS.timeouts, Object.keys(NAT_DEFAULTS.timeouts))
  const ext = parseIpv4(EXT)!
  const FWD = 1010
  const random = rng(7)
  const pick = (n: number) => Math.floor(random() * n)
  const ops: NatOp[] = []
  let now = 0
  const clocks: number[] = []
  for (let i = 0; i < 300; i++) {
    const k = random()
    if (k < 0.5) ops.push({ kind: 'out', proto: [6, 17, 1][pick(3)], inside: 0x0a000002 + pick(6), insidePort: 1000 + pick(4), remote: (0xc6336401 + pick(3)) | 0, remotePort: pick(2) ? 80 : 53 })
    else if (k < 0.75) ops.push({ kind: 'in', proto: [6, 17][pick(2)], remote: (0xc6336401 + pick(3)) | 0, remotePort: pick(2) ? 80 : 53, extPort: 1000 + pick(12) })
    else if (k < 0.82) ops.push({ kind: 'forward', remote: (0xc6336401 + pick(3)) | 0, remotePort: 2000 + pick(3) })
    else ops.push({ kind: 'tick', ms: 200 + pick(1500) })
    const op = ops[ops.length - 1]
    if (op.kind === 'tick') now += op.ms
    clocks.push(now)
  }
  const cuts = everyCut<NatOp>(t, {
    bytes: sessionsStateBytes(capacity),
    ops,
    nowAfter: (i) => clocks[i],
    make(state, start) {
      // A small port range (1000-1011, 1010 forwarded for TCP), so ports run out and come back.
      const s = new Sessions(capacity, ext, {
        tcp: new PortPool(1000, 1011, new Set([FWD])), udp: new PortPool(1000, 1011, new Set()), icmp: new PortPool(1000, 1011, new Set()),
      }, timeouts, state, start)
      let at = start + s.clockOffset
      return {
        apply(op) {
          if (op.kind === 'tick') {
            at += op.ms
            s.sweep(at, 8)
            s.saveClock(at)
          } else if (op.kind === 'out') {
            const icmp = op.proto === 1
            let id = s.findFromInside(op.inside, op.remote, op.proto, op.insidePort, icmp ? 0 : op.remotePort, at)
            if (id < 0) id = s.open(op.proto, op.inside, op.insidePort, op.remote, icmp ? 0 : op.remotePort, -1, at)
            if (id >= 0) s.touch(id, true, op.proto === 6 ? 0x10 : 0, at)
          } else if (op.kind === 'in') {
            const id = s.findFromOutside(op.remote, op.proto, op.remotePort, op.extPort, at)
            if (id >= 0) s.touch(id, false, 0x10, at)
          } else {
            let id = s.findFromOutside(op.remote, 6, op.remotePort, FWD, at)
            if (id < 0) id = s.open(6, 0x0a000005, 80, op.remote, op.remotePort, FWD, at)
            if (id >= 0) s.touch(id, false, 0x02, at)
          }
        },
        list: (live = -Infinity) => new Map(s.list().filter((x) => x.expires > live).map((x) => [`${x.proto} ${x.insideIp}:${x.insidePort} ${x.remoteIp}:${x.remotePort}${x.forwarded ? ' fwd' : ''}`, String(x.extPort)])),
        problems: () => s.problems(),
      }
    },
  })
  t.log(`${cuts} cuts`)
  t.true(cuts > 1000)
})

type CtOp = { kind: 'track' | 'packet'; frame: Uint8Array } | { kind: 'tick'; ms: number }

test('conntrack: the state cut at every store of 300 operations (IPv4, IPv6, fragments) resumes sound, with every flow the operation left alone', (t) => {
  const capacity = 16
  const timeouts = timeoutsAt({ udpUnreplied: 3, udp: 5, tcpTransitory: 4, tcpEstablished: 8, icmp: 2, other: 3 }, '', {
    tcpEstablished: 1, tcpTransitory: 1, udp: 1, udpUnreplied: 1, icmp: 1, other: 1,
  })
  const random = rng(11)
  const pick = (n: number) => Math.floor(random() * n)
  const ops: CtOp[] = []
  const clocks: number[] = []
  let now = 0
  for (let i = 0; i < 300; i++) {
    const k = random()
    if (k < 0.8) {
      const v6 = pick(2) === 1
      const a = pick(5), b = pick(3)
      const spec = { proto: pick(2) ? 'udp' as const : 'tcp' as const, srcPort: 1000 + pick(3), dstPort: 53, tcpFlags: [0x02, 0x10, 0x11][pick(3)], mf: pick(8) === 0 }
      const frame = v6
        ? ipv6Frame({ ...spec, src: `2001:db8::${a + 1}`, dst: `2001:db8:1::${b + 1}` })
        : ipv4Frame({ ...spec, src: `10.0.0.${a + 1}`, dst: `198.51.100.${b + 1}` })
      ops.push({ kind: k < 0.45 ? 'track' : 'packet', frame: pick(3) === 0 ? reversed(frame) : frame })
    } else {
      const ms = 200 + pick(1500)
      ops.push({ kind: 'tick', ms })
      now += ms
    }
    clocks.push(now)
  }
  const cuts = everyCut<CtOp>(t, {
    bytes: conntrackStateBytes(capacity),
    ops,
    nowAfter: (i) => clocks[i],
    make(state, start) {
      const ct = new Conntrack(capacity, timeouts, state, start)
      let at = start + ct.clockOffset
      const h = new Headers()
      return {
        apply(op) {
          if (op.kind === 'tick') {
            at += op.ms
            ct.sweep(at, 5)
            ct.saveClock(at)
            return
          }
          const v6 = (op.frame[14] >> 4) === 6
          parse(op.frame, 0, op.frame.length, h)
          const known = v6 ? ct.established6(h, at) : ct.established(h, at)
          if (!known && op.kind === 'track') {
            if (v6) ct.track6(h, at)
            else ct.track(h, at)
          }
        },
        list: (live = -Infinity) => new Map(ct.list().filter((x) => x.expires > live).map((x) => [x.key.join(' '), `${x.origLow}`])),
        problems: () => ct.problems(),
      }
    },
  })
  t.log(`${cuts} cuts`)
  t.true(cuts > 500)
})

test('whatever bytes a state holds, a NAT and a firewall resume from them sound and keep working', (t) => {
  const random = rng(3)
  const ext = parseIpv4(EXT)!
  const timeouts = timeoutsAt(undefined, '', NAT_DEFAULTS.timeouts)
  for (let round = 0; round < 200; round++) {
    // Half pure noise, half a real state with bytes flipped.
    const state = new ArrayBuffer(sessionsStateBytes(32))
    const bytes = new Uint8Array(state)
    if (round % 2) for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256)
    else {
      const live = new Sessions(32, ext, { tcp: new PortPool(1000, 1040, new Set()), udp: new PortPool(1000, 1040, new Set()), icmp: new PortPool(1000, 1040, new Set()) }, timeouts, state)
      for (let i = 0; i < 30; i++) live.open([6, 17, 1][i % 3], 0x0a000002 + (i % 7), 1000 + (i % 5), (0xc6336401 + i) | 0, i % 3 === 2 ? 0 : 80, -1, 0)
      for (let i = 0; i < 40; i++) bytes[64 + Math.floor(random() * (bytes.length - 64))] ^= 1 << Math.floor(random() * 8)
    }
    const s = new Sessions(32, ext, { tcp: new PortPool(1000, 1040, new Set()), udp: new PortPool(1000, 1040, new Set()), icmp: new PortPool(1000, 1040, new Set()) }, timeouts, state, 0)
    t.deepEqual(s.problems(), [], `round ${round}`)
    for (let i = 0; i < 40; i++) {
      const id = s.open(17, 0x0b000000 + i, 7, 0xc6336401 | 0, 53, -1, 1)
      if (id >= 0) s.touch(id, true, 0, 1)
    }
    t.deepEqual(s.problems(), [], `round ${round}, used after`)
    const ctState = new ArrayBuffer(conntrackStateBytes(16))
    const cb = new Uint8Array(ctState)
    for (let i = 0; i < cb.length; i++) cb[i] = random() < 0.5 ? 0 : Math.floor(random() * 256)
    const ct = new Conntrack(16, timeouts, ctState, 0)
    t.deepEqual(ct.problems(), [], `conntrack round ${round}`)
  }
})

test('a NAT restarted again and again behaves exactly as one that never was: the same verdicts, the same bytes, the same ports in the same order (property)', (t) => {
  // A small range and table, so ports run out, expire and are reused throughout.
  const config = { ports: [20000, 20015] as [number, number], maxMappings: 24, timeouts: { udpUnreplied: 2, udp: 4, tcpTransitory: 3, tcpEstablished: 6, icmp: 2 } }
  const random = rng(5)
  const pick = (n: number) => Math.floor(random() * n)
  const twin = natOn(config)
  let restarted = natOn(config)
  let restarts = 0
  const sentOut: Uint8Array[] = []
  for (let step = 0; step < 3000; step++) {
    const k = random()
    let frame: Uint8Array
    let from: number
    if (k < 0.45) {
      const proto = (['tcp', 'udp', 'icmp'] as const)[pick(3)]
      const spec: FrameSpec = { src: `10.0.0.${2 + pick(8)}`, dst: `198.51.100.${1 + pick(3)}`, proto }
      frame = ipv4Frame(proto === 'icmp' ? { ...spec, icmpType: 8, icmpId: 7 + pick(3) } : { ...spec, srcPort: 1000 + pick(3), dstPort: 53, tcpFlags: [0x02, 0x10, 0x11, 0x04][pick(4)] })
      from = LAN
    } else if (k < 0.8 && sentOut.length) {
      frame = answerTo(sentOut[pick(sentOut.length)])
      from = WAN
    } else if (k < 0.85) {
      frame = ipv4Frame({ src: '198.51.100.9', dst: EXT, proto: 'tcp', srcPort: 4000 + pick(3), dstPort: 8080, tcpFlags: 0x02 })
      from = WAN
    } else {
      const ms = 100 * (1 + pick(k < 0.97 ? 5 : 40))
      twin.advance(ms)
      restarted.advance(ms)
      // A restart, now and then: a new NF on the state the last one left (between two ticks, as a process dies).
      if (pick(4) === 0) {
        restarted = natOn(config, { now: restarted.now, state: restarted.state })
        restarts++
      }
      continue
    }
    const a = twin.send(frame, { from })
    const b = restarted.send(frame, { from })
    if (a.verdict !== b.verdict || Buffer.compare(a.frame, b.frame) !== 0) {
      t.fail(`step ${step}, after ${restarts} restarts: the twin said ${a.verdict} ${a.verdict === 'drop' ? '' : extPortOf(a.frame)}, the restarted one ${b.verdict} ${b.verdict === 'drop' ? '' : extPortOf(b.frame)}; ${JSON.stringify(twin.counters())} ${JSON.stringify(restarted.counters())}`)
      return
    }
    if (a.verdict === 'outside' && from === LAN) sentOut.push(a.frame)
    if (sentOut.length > 64) sentOut.shift()
  }
  t.log(`${restarts} restarts`)
  t.true(restarts > 50)
  t.true(twin.counters()['drop/portsExhausted'] > 0, 'the range ran out on the way')
  t.true(twin.counters().sessionsExpired > 100)
})
