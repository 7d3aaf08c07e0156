// A NAT spread over instances, each on the harness as its own process would run it: packets
// reach whichever instance the manager's flow hash would pick (here: any, at random, even
// per packet), and what one instance hands another (env.packets.toInstance) is delivered to
// that one, from the NAT itself, as the manager does. Whatever instance a packet first
// reaches, the chain must behave as one NAT does.
import test from 'ava'
import fc from 'fast-check'
import nat, { type NatConfig } from '../../src/nfs/nat/index.ts'
import { portOwner } from '../../src/nfs/nat/sessions.ts'
import { NFConfigError } from '../../src/xio/nf-types.ts'
import { formatIpv4 } from '../../src/packet/index.ts'
import { harness } from '../../src/testing/index.ts'
import { ipv4Frame, type FrameSpec } from '../../src/testing/frames.ts'
import { checksumsOk, EXT, headers, LAN, natOf, replyTo, WAN } from './nat-helpers.ts'

/** The NAT's own endpoint id on the harness: what a handed-over packet comes from, as in a chain. */
const SELF = 99
const LOW = 20000
const HIGH = 29999
const FORWARD = { proto: 'tcp' as const, port: 8080, to: '10.0.0.5:80' }

interface Delivered {
  verdict: string
  frame: Uint8Array
  /** The instances that decided it, in order: where it arrived, then where it was handed. */
  path: number[]
}

function spread(instances: number, config: Partial<NatConfig> = {}) {
  const nats = Array.from({ length: instances }, (_, instance) =>
    natOf({ ports: [LOW, HIGH], forwards: [FORWARD], ...config }, { placement: { instance, instances } }))
  /** Gives the frame to instance `at` from `from`, then follows handoffs as the manager would. */
  const deliver = (frame: Uint8Array, from: number, at: number): Delivered => {
    const path = [at]
    let o = nats[at].h.send(frame, { from })
    while (o.verdict.startsWith('instance ')) {
      const to = Number(o.verdict.slice('instance '.length))
      if (path.length > instances) throw new Error(`handed round in a loop: ${path.join(' -> ')}`)
      path.push(to)
      const handed = nats[at].h.packets.handedOff.at(-1)!
      o = nats[to].h.send(handed.frame, { from: SELF, handoff: handed.tag })
      at = to
    }
    return { verdict: o.verdict, frame: o.frame, path }
  }
  return {
    nats,
    fromInside: (spec: FrameSpec, at: number) => deliver(ipv4Frame(spec), LAN, at),
    fromOutside: (spec: FrameSpec, at: number) => deliver(ipv4Frame(spec), WAN, at),
    answer: (d: Delivered, at: number) => deliver(replyTo(d.frame), WAN, at),
    counters: (name: string) => nats.reduce((n, x) => n + (x.c()[name] ?? 0), 0),
  }
}

const remote = (i: number) => `198.51.100.${1 + (i % 200)}`
const inside = (i: number) => `10.0.${i >> 8}.${(i & 0xff) || 1}`

test('flows from the inside and their replies, each reaching any instance, are translated as by one NAT, with at most one handoff each', (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 2, max: 5 }),
    fc.array(fc.record({ host: fc.nat(300), port: fc.integer({ min: 1024, max: 65535 }), dst: fc.nat(400), tcp: fc.boolean(), out: fc.nat(), back: fc.nat() }), { minLength: 1, maxLength: 40 }),
    (instances, flows) => {
      const s = spread(instances)
      for (const f of flows) {
        const spec: FrameSpec = { src: inside(f.host), dst: remote(f.dst), proto: f.tcp ? 'tcp' : 'udp', srcPort: f.port, dstPort: 443, tcpFlags: 0x02 }
        const out = s.fromInside(spec, f.out % instances)
        t.is(out.verdict, 'outside')
        t.true(out.path.length <= 2, `outbound path ${out.path}`)
        const h = headers(out.frame)
        t.is(formatIpv4(h.src), EXT)
        // The port is from the share of the instance that decided it: replies find it by port.
        t.is(portOwner(h.srcPort, instances), out.path.at(-1)!)
        t.true(checksumsOk(out.frame))
        const back = s.answer(out, f.back % instances)
        t.is(back.verdict, 'inside', `reply path ${back.path}`)
        t.true(back.path.length <= 2)
        t.is(back.path.at(-1), out.path.at(-1), 'the reply is decided where its session is')
        const b = headers(back.frame)
        t.is(formatIpv4(b.dst), inside(f.host))
        t.is(b.dstPort, f.port)
        t.true(checksumsOk(back.frame))
      }
      for (const n of s.nats) t.deepEqual(n.h.held, 0, 'nothing left held')
    },
  ), { numRuns: 40 })
})

test('an inside endpoint keeps one external port for every remote, whichever instances its flows reach (RFC 4787 REQ-1)', (t) => {
  const s = spread(3)
  const ports = new Set<number>()
  for (let i = 0; i < 12; i++) {
    const out = s.fromInside({ src: '10.0.0.2', dst: remote(i), proto: 'udp', srcPort: 5000, dstPort: 6000 }, i % 3)
    t.is(out.verdict, 'outside')
    ports.add(headers(out.frame).srcPort)
  }
  t.is(ports.size, 1, `ports: ${[...ports]}`)
  t.is(s.counters('mappingsActive'), 1, 'one mapping among all the instances')
})

test('a port forward: new flows from outside and the inside server\'s replies meet at one instance, whichever they reach', (t) => {
  const s = spread(4)
  for (let i = 0; i < 20; i++) {
    const client = { src: remote(i), srcPort: 40000 + i }
    const inbound = s.fromOutside({ ...client, dst: EXT, proto: 'tcp', dstPort: 8080, tcpFlags: 0x02 }, i % 4)
    t.is(inbound.verdict, 'inside')
    const h = headers(inbound.frame)
    t.is(formatIpv4(h.dst), '10.0.0.5')
    t.is(h.dstPort, 80)
    // The server answers; its reply reaches some instance from the inside.
    const reply = s.fromInside({ src: '10.0.0.5', srcPort: 80, dst: client.src, dstPort: client.srcPort, proto: 'tcp', tcpFlags: 0x12 }, (i * 7 + 1) % 4)
    t.is(reply.verdict, 'outside', `path ${reply.path}`)
    t.is(reply.path.at(-1), inbound.path.at(-1))
    const r = headers(reply.frame)
    t.is(formatIpv4(r.src), EXT)
    t.is(r.srcPort, 8080)
    t.true(checksumsOk(reply.frame))
  }
  t.is(s.counters('sessionsActive'), 20)
})

test('ICMP echo through any instance: the identifier\'s share names the instance the reply goes to', (t) => {
  const s = spread(3)
  for (let i = 0; i < 9; i++) {
    const out = s.fromInside({ src: inside(i + 2), dst: remote(i), proto: 'icmp', icmpType: 8, icmpId: 100 + i }, i % 3)
    t.is(out.verdict, 'outside')
    const id = headers(out.frame).icmpId
    t.is(portOwner(id, 3), out.path.at(-1)!)
    const back = s.fromOutside({ src: remote(i), dst: EXT, proto: 'icmp', icmpType: 0, icmpId: id }, (i + 1) % 3)
    t.is(back.verdict, 'inside')
    t.is(headers(back.frame).icmpId, 100 + i)
    t.is(formatIpv4(headers(back.frame).dst), inside(i + 2))
  }
})

test('hairpinning across instances: an inside host reaches the port forward at the external address, and the answer comes back', (t) => {
  const s = spread(3)
  for (let at = 0; at < 3; at++) {
    const there = s.fromInside({ src: '10.0.0.7', srcPort: 3000 + at, dst: EXT, dstPort: 8080, proto: 'tcp', tcpFlags: 0x02 }, at)
    t.is(there.verdict, 'inside', `path ${there.path}`)
    const h = headers(there.frame)
    t.is(formatIpv4(h.dst), '10.0.0.5')
    t.is(formatIpv4(h.src), EXT, 'the server sees the external address, so its answer comes back through the NAT')
    const back = s.fromInside({ src: '10.0.0.5', srcPort: 80, dst: EXT, dstPort: h.srcPort, proto: 'tcp', tcpFlags: 0x12 }, (at + 2) % 3)
    t.is(back.verdict, 'inside', `path ${back.path}`)
    const b = headers(back.frame)
    t.is(formatIpv4(b.dst), '10.0.0.7')
    t.is(b.dstPort, 3000 + at)
    t.is(formatIpv4(b.src), EXT)
    t.is(b.srcPort, 8080)
    t.true(checksumsOk(back.frame))
  }
})

test('replies with no session are dropped by the instance their port belongs to, counted there, not bounced round', (t) => {
  const s = spread(3)
  const port = [LOW + 4, LOW + 5].find((p) => portOwner(p, 3) !== 0)!  // another instance's
  const d = s.fromOutside({ src: remote(1), srcPort: 53, dst: EXT, dstPort: port, proto: 'udp' }, 0)
  t.is(d.verdict, 'drop')
  t.deepEqual(d.path, [0, portOwner(port, 3)])
  t.is(s.nats[portOwner(port, 3)].c()['drop/noMapping'], 1)
  t.is(s.counters('handedOff'), 1)
  t.is(s.nats[0].h.instance.explain!(), `handed to #${portOwner(port, 3)}`)
})

test('one instance hands nothing off and counts no handoffs', (t) => {
  const { fromInside, answer, h } = natOf({}, { placement: { instance: 0, instances: 1 } })
  const out = fromInside({ src: '10.0.0.2', dst: '198.51.100.9', proto: 'udp', srcPort: 1000, dstPort: 53 })
  t.is(answer(out).verdict, 'inside')
  t.is(h.packets.handedOff.length, 0)
  t.false('handedOff' in h.counters())
})

test('every instance needs ports of its own for each protocol: a range too small, or forwards taking a share\'s only port, is refused at /ports', (t) => {
  const make = (config: object, instances: number) => () => harness(nat, { external: EXT, ...config }, { placement: { instance: 0, instances } })
  t.notThrows(make({}, 4), 'no inside networks needed: a handed packet says which way it goes')
  const few = t.throws(make({ ports: [20000, 20002] }, 4), { instanceOf: NFConfigError })
  t.is(few.path, '/ports')
  const taken = t.throws(make({ ports: [20000, 20002], forwards: [{ proto: 'tcp', port: 20001, to: '10.0.0.5:80' }] }, 3), { instanceOf: NFConfigError })
  t.is(taken.path, '/ports')
  t.true(taken.message.includes(`instance ${portOwner(20001, 3)} of 3 would have no TCP port of its own`), taken.message)
  t.notThrows(make({ ports: [20000, 20005], forwards: [{ proto: 'tcp', port: 20001, to: '10.0.0.5:80' }] }, 3))
})

test('a remote inside the inside prefixes (an upstream router on 10/8) is still told inbound: its replies reach the session, whichever instance they meet', (t) => {
  const s = spread(3, { inside: '10.0.0.0/8' })
  for (let i = 0; i < 12; i++) {
    const out = s.fromInside({ src: '10.0.0.2', srcPort: 5001 + i, dst: '10.200.0.9', dstPort: 53, proto: 'udp' }, i % 3)
    t.is(out.verdict, 'outside')
    const back = s.answer(out, (i + 1) % 3)
    t.is(back.verdict, 'inside', `path ${back.path}`)
    t.is(headers(back.frame).dstPort, 5001 + i)
  }
  t.is(s.counters('mappingsActive'), 12, 'no mapping opened for the remote')
  // And an ICMP error from such a router about a session is translated back.
  t.is(s.counters('drop/handoffLoop'), 0)
})

test('instances that disagree on who owns a port (one on a config a reload is replacing) drop the packet, counted, rather than pass it round', (t) => {
  // Instance 0 has forwards the others do not have yet: it hands replies to those ports to the
  // forwards' targets' owners, which hand them to the ports' owners.
  const forwards = Array.from({ length: 59 }, (_, i) => ({ proto: 'udp' as const, port: LOW + 1 + i, to: `10.0.0.${5 + i}:80` }))
  const nats = [0, 1, 2].map((instance) => natOf({ ports: [LOW, HIGH], forwards: instance === 0 ? forwards : [] }, { placement: { instance, instances: 3 } }))
  let loops = 0, hops = 0
  for (let port = LOW + 1; port < LOW + 60; port++) {
    let at = 0
    let o = nats[at].fromOutside({ src: remote(1), srcPort: 53, dst: EXT, dstPort: port, proto: 'udp' })
    for (let n = 0; o.verdict.startsWith('instance '); n++) {
      t.true(n < 2, `port ${port} handed on ${n + 1} times`)
      const handed = nats[at].h.packets.handedOff.at(-1)!
      at = handed.instance
      o = nats[at].h.send(handed.frame, { from: SELF, handoff: handed.tag })
      hops++
    }
    // Only the instance with the forward opens a session for it; the others have none.
    if (at !== 0) t.is(o.verdict, 'drop')
  }
  for (const n of nats) loops += n.c()['drop/handoffLoop'] ?? 0
  t.true(loops > 0, `loops caught: ${loops} (hops ${hops})`)
})

test('a forward\'s target that also opens flows from the forward\'s port keeps one external port for all its remotes (RFC 4787 REQ-1)', (t) => {
  const s = spread(3, { forwards: [{ proto: 'udp', port: 51820, to: '10.0.0.5:51820' }] })
  const ports = new Set<number>()
  for (let i = 0; i < 6; i++) {
    const out = s.fromInside({ src: '10.0.0.5', srcPort: 51820, dst: remote(i), dstPort: 51820, proto: 'udp' }, i % 3)
    t.is(out.verdict, 'outside')
    ports.add(headers(out.frame).srcPort)
  }
  t.is(ports.size, 1, `ports: ${[...ports]}`)
  // A remote's new flow to the forward meets the target's sessions at the same instance.
  const inbound = s.fromOutside({ src: remote(50), srcPort: 9999, dst: EXT, dstPort: 51820, proto: 'udp' }, 1)
  t.is(inbound.verdict, 'inside')
  const reply = s.fromInside({ src: '10.0.0.5', srcPort: 51820, dst: remote(50), dstPort: 9999, proto: 'udp' }, 2)
  t.is(headers(reply.frame).srcPort, 51820, 'the forward session answers from the forward\'s port')
})

test('a forward removed while the NAT is down: the restarted instance drops that forward\'s sessions, whatever its share', (t) => {
  const config = { ports: [LOW, HIGH] as [number, number], forwards: [{ proto: 'tcp' as const, port: LOW, to: '10.0.0.5:80' }] }
  // The instance the forward's sessions live with: the one that takes the new flow in.
  const opened = [0, 1, 2].map((instance) => {
    const n = natOf(config, { placement: { instance, instances: 3 } })
    return { instance, n, verdict: n.fromOutside({ src: remote(3), srcPort: 4000, dst: EXT, dstPort: LOW, proto: 'tcp', tcpFlags: 0x02 }).verdict }
  }).find((x) => x.verdict === 'inside')!
  const first = opened.n
  t.is(first.c().sessionsActive, 1)
  const again = natOf({ ports: [LOW, HIGH] }, { placement: { instance: opened.instance, instances: 3 }, state: { ...first.h.state!, buffer: first.h.state!.buffer.slice(0) } })
  t.is(again.c().sessionsResumed, 0)
  t.is(again.c().sessionsActive, 0)
})

test('each instance hands out only its share of the range: together, every port once, and no more', (t) => {
  const s = spread(3, { ports: [LOW, LOW + 8] })
  const seen: number[] = []
  let dropped = 0
  // More inside endpoints than ports: each instance's share runs out in turn.
  for (let i = 0; i < 40; i++) {
    const out = s.fromInside({ src: inside(i + 2), dst: remote(0), proto: 'udp', srcPort: 7000, dstPort: 53 }, i % 3)
    if (out.verdict === 'drop') dropped++
    else seen.push(headers(out.frame).srcPort)
  }
  t.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 9 }, (_, i) => LOW + i))
  t.is(dropped, 31)
  t.is(s.counters('drop/portsExhausted'), 31)
})

test('a reload that moves the range keeps every session whose port is still in it, at the instance that holds it, as one NAT does', (t) => {
  const s = spread(3)
  const flows = Array.from({ length: 30 }, (_, i) => ({ src: inside(i + 2), srcPort: 7000 + i, dst: remote(i), dstPort: 443, proto: 'tcp' as const, tcpFlags: 0x10 }))
  const ports = flows.map((f, i) => headers(s.fromInside(f, i % 3).frame).srcPort)
  t.true(ports.every((p) => p >= LOW && p <= HIGH))
  // Each instance re-created on the new range over its own state, as a reload does.
  const moved = { ports: [LOW - 1000, HIGH] as [number, number], forwards: [FORWARD] }
  const reloaded = s.nats.map((n, instance) =>
    natOf(moved, { placement: { instance, instances: 3 }, state: { ...n.h.state!, buffer: n.h.state!.buffer.slice(0) } }))
  t.is(reloaded.reduce((k, n) => k + n.c().sessionsResumed, 0), flows.length)
  const after = { ...s, nats: reloaded }
  const deliver = (frame: Uint8Array, from: number, at: number) => {
    let o = reloaded[at].h.send(frame, { from })
    for (let hops = 0; o.verdict.startsWith('instance ') && hops < 3; hops++) {
      const to = Number(o.verdict.slice('instance '.length))
      const handed = reloaded[at].h.packets.handedOff.at(-1)!
      o = reloaded[to].h.send(handed.frame, { from: SELF, handoff: handed.tag })
      at = to
    }
    return o
  }
  flows.forEach((f, i) => {
    // The flow goes on with its port, and the remote's reply, reaching any instance, comes back.
    const out = deliver(ipv4Frame(f), LAN, (i + 1) % 3)
    t.is(out.verdict, 'outside')
    t.is(headers(out.frame).srcPort, ports[i])
    const back = deliver(replyTo(out.frame), WAN, (i + 2) % 3)
    t.is(back.verdict, 'inside', `flow ${i}, port ${ports[i]}`)
    t.is(headers(back.frame).dst, headers(ipv4Frame(f)).src)
  })
  t.is(after.nats.reduce((k, n) => k + (n.c()['drop/noMapping'] ?? 0), 0), 0)
})
