// `xio-chain trace` on a running chain: the next packets to enter are followed hop by hop, with
// each NF's reason, the packet as each hop left it, and time; the trace leaves nothing behind.
import test from 'ava'
import { commentedNote, describeFrame, render } from '../../src/cli/trace.ts'
import { buildIpv4Frame, IPPROTO_TCP, IPPROTO_UDP } from '../../src/packet/index.ts'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, startXioChain, xioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { observe } from '../../src/xio/index.ts'
import { PcapWriter } from '../../src/chain/pcap.ts'
import { arpFrame } from '../../src/testing/frames.ts'
import { scratchDir } from '../helpers/scratch.ts'
import type { TracedPacket } from '../../src/cli/trace.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('trace')
const spec = join(dir, 'chain.json')
// Sixteen flows in turn; their destinations .1, .8, … .106: the first nine (below .64) are
// dropped by the firewall's rule, the other seven pass and are masqueraded. Any sixteen
// packets in a row hold both kinds.
writeFileSync(spec, JSON.stringify({
  endpoints: {
    traffic: { kind: 'generator', rate: 400, flows: 16 },
    fw: { kind: 'firewall', config: { default: 'allow', rules: [{ comment: 'lower quarter', action: 'drop', dst: '198.51.100.0/26' }] } },
    nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.0/16' } },
    sink: { kind: 'sink' },
  },
  links: ['traffic -> fw', 'fw -> nat', 'nat.outside -> sink', 'nat.inside -> traffic'],
}))

test('trace -c 16 follows sixteen packets hop by hop: the firewall\'s rule and the NAT\'s translation, as each hop left them', async (t) => {
  const prefix = uniquePrefix('trace')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (s.slots.find((x) => x.state === 'active' && x.name === 'sink')?.route.rxPackets ?? 0) > 0)
  t.truthy(o, chain.output())

  const started = Date.now()
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '16', '--json'], 60_000)
  const ended = Date.now()
  t.is(r.code, 0, r.stderr)
  const { prefix: tracedPrefix, packets } = JSON.parse(r.stdout) as { prefix: string; packets: TracedPacket[] }
  t.is(tracedPrefix, prefix, 'the chain traced, by its prefix')
  t.deepEqual(packets.map((p) => p.id), Array.from({ length: 16 }, (_, i) => i + 1))
  let passed = 0, dropped = 0
  for (const p of packets) {
    // The wall-clock time of its first hop, while the command ran (Date's ms either side).
    t.regex(p.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    t.true(Date.parse(p.time) >= started - 1 && Date.parse(p.time) <= ended + 1, `${p.time} within the trace`)
    const [entry, ...rest] = p.hops
    // A port gives no reason, and none from the buffer's earlier lives shows.
    t.like(entry, { from: 'traffic', gate: 'out', to: 'fw', verdict: 'sent', atUs: 0, why: '' })
    t.regex(entry.packet, /^udp 10\.0\.\d+\.\d+:\d+ > 198\.51\.100\.(\d+):80, length \d+$/)
    const host = Number(/198\.51\.100\.(\d+)/.exec(entry.packet)![1])
    if (host < 64) {
      dropped++
      t.is(rest.length, 1, JSON.stringify(p))
      t.like(rest[0], { from: 'fw', verdict: 'dropped', why: 'drop/rule/0 (lower quarter)', packet: entry.packet })
    } else {
      passed++
      t.is(rest.length, 2, JSON.stringify(p))
      t.like(rest[0], { from: 'fw', gate: 'out', to: 'nat', verdict: 'sent', why: 'default', packet: entry.packet })
      t.like(rest[1], { from: 'nat', gate: 'outside', to: 'sink', verdict: 'sent' })
      // The mapping the NAT made or used, its external port the one the packet left with.
      const mapping = /^(new )?map :(\d+)$/.exec(rest[1].why)
      t.truthy(mapping, rest[1].why)
      t.is(rest[1].packet.split(' ')[1], `203.0.113.1:${mapping![2]}`)
      // As the NAT left it: masqueraded, the destination untouched.
      t.regex(rest[1].packet, new RegExp(`^udp 203\\.0\\.113\\.1:\\d+ > 198\\.51\\.100\\.${host}:80, length \\d+$`))
    }
    // Shown in the order the manager made them: their times (a monotonic clock) agree.
    for (let i = 1; i < p.hops.length; i++) t.true(p.hops[i].atUs >= p.hops[i - 1].atUs, 'hops in time order')
  }
  t.is(dropped, 9)
  t.is(passed, 7)

  // The trace left: no taps, nothing copied any more, every copy back in the pool.
  t.true(await until(() => o!.view.snapshot().manager.taps === 0, 5000), 'no taps left')
  const text = await xioChain(['trace', '--prefix', prefix, '-c', '2'], 60_000)
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /^packet 1 at \d\d:\d\d:\d\d\.\d{6}Z: udp /m)
  t.regex(text.stdout, /fw\.out -> nat +default|fw dropped it +drop\/rule\/0 \(lower quarter\)/)
  // Twice more in a row: each trace sees only its own packets, numbered from 1.
  for (let i = 0; i < 2; i++) {
    const again = JSON.parse((await xioChain(['trace', '--prefix', prefix, '-c', '4', '--json'], 60_000)).stdout) as { packets: TracedPacket[] }
    t.deepEqual(again.packets.map((p) => p.id), [1, 2, 3, 4])
    for (const p of again.packets) t.like(p.hops[0], { from: 'traffic', why: '' })
  }
  // Each packet is printed as its trace ends (here at the sink or the firewall's drop), while the
  // command goes on: with --quiet 600 it would wait ten minutes for more hops, until Ctrl-C.
  const live = startXioChain(['trace', '--prefix', prefix, '-c', '2', '--quiet', '600'])
  const traceEnds = (text: string) => (text.match(/nat\.outside -> sink|fw dropped it/g) ?? []).length
  t.true(await until(() => traceEnds(live.output()) === 2, 30_000), live.output())
  t.is(live.exitCode, null, 'both printed while it runs')
  live.kill('SIGINT')
  const [liveCode] = await once(live, 'close')
  t.is(liveCode, 0, live.output())
  t.is((live.output().match(/^packet \d+ at /gm) ?? []).length, 2, `each printed once: ${live.output()}`)
  // Read by `head`, which leaves after a few lines: the trace ends then (it would wait ten
  // minutes), quietly, and takes its taps with it.
  const headed = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" bin/xio-chain.js trace --prefix ${prefix} -c 50 --quiet 600 | head -3`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let headedErr = ''
  headed.stderr.on('data', (c: Buffer) => (headedErr += c))
  const [headedCode] = await once(headed, 'close')
  t.is(headedCode, 0, headedErr)
  t.notRegex(headedErr, /Error|\n\s+at /, 'no stack trace')
  t.true(await until(() => o!.view.snapshot().manager.taps === 0, 5000), 'its taps gone with it')
  // A trace whose chain stops says so.
  const waiting = startXioChain(['trace', '--prefix', prefix, '-c', '65000'])
  // Listened for from the start: it may end before the chain's own exit is seen here.
  const waitingClosed = once(waiting, 'close')
  t.true(await until(() => o!.view.snapshot().manager.taps > 0, 10_000), waiting.output())
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output())
  const [traceCode] = await waitingClosed
  t.is(traceCode, 1)
  t.regex(waiting.output(), /the chain on prefix '.*' has stopped/)
})

test('through a placement group, a hop\'s note names each member that decided something: the firewall\'s rule with its comment and the NAT\'s mapping, not a bare forwarder', async (t) => {
  const grouped = join(dir, 'grouped.json')
  writeFileSync(grouped, JSON.stringify({
    endpoints: {
      traffic: { kind: 'generator', rate: 400, flows: 4 },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow', rules: [{ action: 'allow', proto: 'udp', comment: 'generated' }] } },
      fwd: { kind: 'l2fwd', group: 'edge' },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/16' } },
      sink: { kind: 'sink' },
    },
    links: ['traffic -> fw', 'fw -> fwd', 'fwd -> nat', 'nat.outside -> sink', 'nat.inside -> traffic'],
  }))
  const prefix = uniquePrefix('trace-group')
  const chain = startXioChain(['run', grouped, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (s.slots.find((x) => x.state === 'active' && x.name === 'sink')?.route.rxPackets ?? 0) > 0)
  t.truthy(o, chain.output())
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '4', '--json'], 60_000)
  t.is(r.code, 0, r.stderr)
  for (const p of (JSON.parse(r.stdout) as { packets: TracedPacket[] }).packets) {
    const out = p.hops.find((h) => h.to === 'sink')!
    t.regex(out.why, /^fw: rule 0 \(generated\) nat: (new )?map :\d+$/, JSON.stringify(p))
  }
  o!.close()
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('through a placement group, a drop is the member\'s that decided it, not the group\'s first member\'s', async (t) => {
  const grouped = join(dir, 'grouped-drop.json')
  writeFileSync(grouped, JSON.stringify({
    endpoints: {
      traffic: { kind: 'generator', rate: 400, flows: 4 },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      acl: { kind: 'firewall', group: 'edge', config: { default: 'drop', nonIp: 'drop' } },
      sink: { kind: 'sink' },
    },
    links: ['traffic -> fw', 'fw -> acl', 'acl -> sink'],
  }))
  const prefix = uniquePrefix('trace-group-drop')
  const chain = startXioChain(['run', grouped, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (s.slots.find((x) => x.state === 'active' && x.name === 'traffic')?.route.txPackets ?? 0) > 0)
  t.truthy(o, chain.output())
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '4', '--json'], 60_000)
  t.is(r.code, 0, r.stderr)
  const packets = (JSON.parse(r.stdout) as { packets: TracedPacket[] }).packets
  t.is(packets.length, 4)
  for (const p of packets) {
    const last = p.hops.at(-1)!
    t.like(last, { from: 'acl', verdict: 'dropped' }, JSON.stringify(p))
    t.regex(last.why, /^fw: default acl: drop\/default$/, JSON.stringify(p))
  }
  const text = await xioChain(['trace', '--prefix', prefix, '-c', '1'], 60_000)
  t.regex(text.stdout, /acl dropped it/)
  o!.close()
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('a packet a router holds for ARP, then gives up on, shows it: dropped, and the neighbour it was held for', async (t) => {
  const held = join(dir, 'held.json')
  // Nobody answers on the wire: the router asks three times, a second apart, then drops what it held.
  writeFileSync(held, JSON.stringify({
    endpoints: {
      traffic: { kind: 'generator', rate: 2, flows: 1, dst: '10.0.0.7/32' },
      r: { kind: 'router', config: { address: '10.0.0.1/24' } },
      wire: { kind: 'sink' },
    },
    links: ['traffic -> r', 'r.wire -> wire', 'r.chain -> traffic'],
  }))
  const prefix = uniquePrefix('trace-held')
  const chain = startXioChain(['run', held, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  t.true(await until(async () => (await xioChain(['stats', '--prefix', prefix, '--json'])).code === 0, 20_000), chain.output())
  // The router's own ARP requests enter the chain too (at r), one a second, between the
  // generator's two a second. A packet waits for what is left of its neighbour's three tries
  // (up to 3 s: the first of a round all of them, one that came late little), so ten packets,
  // over 3 s of traffic, hold the first of a round.
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '10', '--json', '--quiet', '5'], 60_000)
  t.is(r.code, 0, r.stderr)
  const generated = (JSON.parse(r.stdout) as { packets: TracedPacket[] }).packets.filter((p) => p.hops[0]?.from === 'traffic')
  t.true(generated.length > 0, r.stdout)
  for (const packet of generated) {
    t.like(packet.hops[0], { from: 'traffic', to: 'r', verdict: 'sent' })
    t.like(packet.hops.at(-1), { from: 'r', verdict: 'dropped', why: 'held for 10.0.0.7' })
  }
  const longest = Math.max(...generated.map((p) => p.hops.at(-1)!.atUs))
  t.true(longest > 1_000_000, `held for its ARP tries: at most ${longest} µs`)
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('a packet a router holds for ARP, then sends on once its neighbour is known, shows whom it waited for', async (t) => {
  // Two hundred flows in turn, each to a host of its own (10.0.0.1, .8, … 10.0.5.138) that
  // nobody has asked for yet: each flow's first packet waits for its neighbour, and at ten
  // packets a second the first ones of all take twenty seconds. The wire's capture announces
  // those hosts, all of them every two seconds (the router asks three times a second apart
  // before it gives up): gratuitous ARP, which resolves an entry waiting for its sender but
  // creates none (Linux's arp_accept 0), so a host is resolved only once a packet waits for it.
  const hosts = 200
  const garp = join(dir, 'garp.pcap')
  const w = new PcapWriter(garp)
  for (let i = 0; i < hosts; i++) {
    const n = i * 7 + 1 // the generator's i-th destination in a /16
    const host = `10.0.${n >> 8}.${n & 255}`
    const mac = `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`
    const frame = arpFrame({ op: 2, srcMac: mac, dstMac: 'ff:ff:ff:ff:ff:ff', senderIp: host, targetIp: host })
    w.write(frame, 0, frame.length, 1_700_000_000_000_000_000n + BigInt(i) * 10_000_000n)
  }
  w.close()
  const released = join(dir, 'released.json')
  writeFileSync(released, JSON.stringify({
    endpoints: {
      traffic: { kind: 'generator', rate: 10, flows: hosts, dst: '10.0.0.0/16' },
      r: { kind: 'router', config: { address: '10.0.255.254/16' } },
      wire: { kind: 'pcap', input: 'garp.pcap', speed: hosts / 2, loop: 0, output: 'released-wire.pcap' },
    },
    links: ['traffic -> r', 'r.wire -> wire', 'wire -> r', 'r.chain -> traffic'],
  }))
  const prefix = uniquePrefix('trace-released')
  const chain = startXioChain(['run', released, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  t.true(await until(async () => (await xioChain(['stats', '--prefix', prefix, '--json'])).code === 0, 20_000), chain.output())
  // The announcements enter the chain too, ten to each generated packet: 300 packets traced
  // hold about 25 generated ones (and none at all about once in 10^11 traces).
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '300', '--json', '--quiet', '5'], 60_000)
  t.is(r.code, 0, r.stderr)
  const generated = (JSON.parse(r.stdout) as { packets: TracedPacket[] }).packets.filter((p) => p.hops[0]?.from === 'traffic')
  t.true(generated.length > 0, r.stdout)
  for (const packet of generated) {
    const last = packet.hops.at(-1)!
    t.like(last, { from: 'r', to: 'wire', verdict: 'sent' }, JSON.stringify(packet))
    // The note the router wrote as it held the packet, kept when it sent it on.
    t.regex(last.why, /^held for 10\.0\.\d+\.\d+$/, JSON.stringify(packet))
  }
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('a router leg of two instances: the ARP copy one hands the other to learn from is no packet of the trace, the ARP frame is; the copy is consumed there, not dropped', async (t) => {
  // Neighbours ask for the router's address, ten a second; ARP has no flow hash, so all of it
  // reaches one instance, which answers and copies each frame to the other.
  const capture = join(dir, 'arp.pcap')
  const w = new PcapWriter(capture)
  for (let i = 0; i < 10; i++) {
    const frame = arpFrame({ srcMac: `02:00:00:00:00:${(0x10 + i).toString(16)}`, senderIp: `10.0.0.${10 + i}`, targetIp: '10.0.0.1' })
    w.write(frame, 0, frame.length, 1_700_000_000_000_000_000n + BigInt(i) * 100_000_000n)
  }
  w.close()
  const legs = join(dir, 'legs.json')
  writeFileSync(legs, JSON.stringify({
    endpoints: {
      wire: { kind: 'pcap', input: capture, output: join(dir, 'arp-out.pcap'), speed: 'timed', loop: 0 },
      r: { kind: 'router', instances: 2, config: { address: '10.0.0.1/24' } },
      sink: { kind: 'sink' },
    },
    links: ['wire -> r', 'r.wire -> wire', 'r.chain -> sink'],
  }))
  const prefix = uniquePrefix('trace-copies')
  const chain = startXioChain(['run', legs, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  // Copies the leg's instances made, as their counters say (0 before the chain is up).
  const shared = () => {
    let o: ReturnType<typeof observe> | undefined
    try {
      o = observe(prefix)
      return o.view.snapshot().slots.filter((s) => s.state === 'active' && s.name === 'r').reduce((n, s) => n + (s.nf.arpShared ?? 0), 0)
    } catch {
      return 0
    } finally {
      o?.close()
    }
  }
  t.true(await until(() => shared() > 0, 20_000), chain.output())
  const r = await xioChain(['trace', '--prefix', prefix, '-c', '8', '--json'], 60_000)
  t.is(r.code, 0, r.stderr)
  const { packets } = JSON.parse(r.stdout) as { packets: TracedPacket[] }
  t.is(packets.length, 8)
  for (const p of packets) {
    // Each is a neighbour's request, answered out of the wire; no copy enters the trace at r.
    t.like(p.hops[0], { from: 'wire', to: 'r', verdict: 'sent' }, JSON.stringify(p))
    t.false(p.hops.some((h) => h.to?.includes('handoff')), JSON.stringify(p))
  }
  t.true(shared() >= 8, 'copies were made meanwhile')
  // What ends at the leg (a copy learnt from) is consumed, not dropped: the manager counts no loss there.
  const o = observe(prefix)
  const snapshot = o.view.snapshot()
  const instances = snapshot.slots.filter((s) => s.state === 'active' && s.name === 'r')
  o.close()
  t.is(instances.reduce((n, s) => n + s.route.dropped, 0), 0)
  t.true(instances.reduce((n, s) => n + s.route.consumed, 0) >= 8)
  // The manager's own totals say so too: what its endpoints ended on purpose, apart from drops.
  t.true(snapshot.manager.consumed >= instances.reduce((n, s) => n + s.route.consumed, 0))
  chain.kill('SIGINT')
  await once(chain, 'exit')
})

test('trace: a mistaken count or a prefix with no chain is one line and a non-zero exit', async (t) => {
  const r1 = await xioChain(['trace', '--prefix', 'whatever', '-c', '0'])
  t.is(r1.code, 1)
  t.is(r1.stderr.trim(), 'xio-chain trace: -c 0: expected a number of packets from 1 to 65535')
  const r2 = await xioChain(['trace', '--prefix', 'no-such-chain-here'])
  t.is(r2.code, 1)
  t.is(r2.stderr.trim().split('\n').length, 1, r2.stderr)
})

test('a hop with no gate reads as where it went: a handoff to another instance, as sent to it by number', (t) => {
  const hop = { atUs: 0, from: 'nat', verdict: 'sent' as const, to: 'nat#1 (handoff)', why: 'handed to #1', packet: 'udp 203.0.113.2:53 > 203.0.113.1:20001', length: 60 }
  const text = render([{ id: 1, time: '2026-12-03T10:00:00.000000Z', hops: [hop] }])
  t.regex(text, /\+0\.0µs  nat -> nat#1 \(handoff\) +handed to #1/)
  t.notRegex(text, /\.\?/)
})

test('TCP packets show their flags and payload length as tcpdump does, UDP packets their payload length, so a flow\'s SYN-ACK and its data differ, and two datagrams of one flow; a hop a second or more on reads in seconds', (t) => {
  const frame = (flags: number) => {
    const bytes = new Uint8Array(128)
    const length = buildIpv4Frame(bytes, 0, { src: 0x0a000001, dst: 0xc6336401, proto: IPPROTO_TCP, srcPort: 80, dstPort: 40000, size: 60 })
    bytes[14 + 20 + 13] = flags  // the TCP header's flags byte, after Ethernet and a 20-byte IPv4 header
    return describeFrame(bytes, 0, length)
  }
  t.is(frame(0x12), 'tcp 10.0.0.1:80 > 198.51.100.1:40000 [S.], length 6')
  t.is(frame(0x18), 'tcp 10.0.0.1:80 > 198.51.100.1:40000 [P.], length 6')
  t.is(frame(0x02), 'tcp 10.0.0.1:80 > 198.51.100.1:40000 [S], length 6')
  t.is(frame(0x11), 'tcp 10.0.0.1:80 > 198.51.100.1:40000 [F.], length 6')
  t.is(frame(0x04), 'tcp 10.0.0.1:80 > 198.51.100.1:40000 [R], length 6')
  const datagram = (size: number) => {
    const bytes = new Uint8Array(256)
    const length = buildIpv4Frame(bytes, 0, { src: 0x0a000001, dst: 0xc6336401, proto: IPPROTO_UDP, srcPort: 1024, dstPort: 53, size })
    return describeFrame(bytes, 0, length)
  }
  t.is(datagram(64), 'udp 10.0.0.1:1024 > 198.51.100.1:53, length 22', '64 bytes less Ethernet, IPv4 and UDP headers')
  t.is(datagram(100), 'udp 10.0.0.1:1024 > 198.51.100.1:53, length 58')
  // A frame padded to Ethernet's minimum: the payload is what the IP header says, not the padding.
  t.is(datagram(50), 'udp 10.0.0.1:1024 > 198.51.100.1:53, length 8')
  const hop = (atUs: number) => ({ atUs, from: 'r', verdict: 'dropped' as const, why: 'held for 10.0.0.7', packet: 'udp 10.0.0.1:1024 > 10.0.0.7:80', length: 60 })
  const text = render([{ id: 1, time: '2026-12-03T10:00:00.000000Z', hops: [hop(0), hop(703_748.7), hop(2_903_708.4)] }])
  t.regex(text, /\n +\+703748\.7µs  r dropped it/)
  t.regex(text, /\n +\+2\.903708s  r dropped it/)
  const starts = text.split('\n').slice(1, 4).map((l) => l.indexOf('r dropped'))
  t.deepEqual(starts, [starts[0], starts[0], starts[0]], 'in one column')
})

test('a placement group\'s note comments each member\'s rules from its own: "fw: rule 0 (web) nat: map :20003"', (t) => {
  const spec = {
    rules: new Map([['fw', ['web', undefined]], ['acl', ['never']]]),
    groups: new Map([['fw', 'edge'], ['nat', 'edge'], ['acl', 'other']]),
  }
  t.is(commentedNote('fw: rule 0 nat: map :20003', 'nat', spec), 'fw: rule 0 (web) nat: map :20003')
  t.is(commentedNote('fw: drop/rule/0', 'fw', spec), 'fw: drop/rule/0 (web)')
  t.is(commentedNote('nat: rule 0', 'nat', spec), 'nat: rule 0', 'the NAT has no rules of its own')
  t.is(commentedNote('rule 0', 'fw', { rules: spec.rules, groups: new Map() }), 'rule 0 (web)', 'alone, as before')
})

test('a trace stopped by Ctrl-C before any packet came: exit 0, says none was seen, and takes its taps with it', async (t) => {
  // A generator that has sent its one packet before the trace attaches: nothing more enters.
  const quiet = join(dir, 'quiet.json')
  writeFileSync(quiet, JSON.stringify({
    endpoints: { traffic: { kind: 'generator', count: 1 }, fw: { kind: 'firewall', config: { default: 'allow' } }, sink: { kind: 'sink' } },
    links: ['traffic -> fw', 'fw -> sink'],
  }))
  const prefix = uniquePrefix('trace-quiet')
  const chain = startXioChain(['run', quiet, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (s.slots.find((x) => x.state === 'active' && x.name === 'sink')?.route.rxPackets ?? 0) === 1)
  t.truthy(o, chain.output())
  const waiting = startXioChain(['trace', '--prefix', prefix, '-c', '5'])
  const closed = once(waiting, 'close')
  t.true(await until(() => o!.view.snapshot().manager.taps > 0, 10_000), waiting.output())
  waiting.kill('SIGINT')
  const [code] = await closed
  t.is(code, 0, waiting.output())
  t.regex(waiting.output(), /^0 of 5 packets seen$/m)
  t.notRegex(waiting.output(), /^packet /m)
  t.true(await until(() => o!.view.snapshot().manager.taps === 0, 5000), 'its taps gone with it')
  o!.close()
  chain.kill('SIGINT')
  const [chainCode] = await once(chain, 'exit')
  t.is(chainCode, 0, chain.output())
})
