// NF state that outlives the process, with real processes: the state segment itself
// (/dev/shm/xio.<prefix>.state.<endpoint>.<instance>, native/state.h), a writer killed with
// SIGKILL again and again mid-stream, and a chain whose NAT is killed with kill -9 and comes
// back with every mapping. The segments are the chain's: gone when it stops, left by a kill -9
// of the chain for `xio-chain clean`, and never handed to a new chain on the prefix.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PcapWriter, readPcap } from '../../src/chain/pcap.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { openState, removeStateSegments, stateFileName, stateSegmentOf } from '../../src/xio/state.ts'
import { attach, Manager, nfEnv, XioError, type RegionSnapshot } from '../../src/xio/index.ts'
import nat from '../../src/nfs/nat/index.ts'
import { PortPool, Sessions, sessionsStateBytes } from '../../src/nfs/nat/sessions.ts'
import { NAT_DEFAULTS } from '../../src/nfs/nat/config.ts'
import { timeoutsAt } from '../../src/nfs/lib/flow-state.ts'
import { parseIpv4 } from '../../src/packet/index.ts'
import { root, startXioChain, xioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

const tsx = import.meta.resolve('tsx')

// A test that failed may leave a chain killed with SIGKILL: its region and state go too.
test.after.always(() => removeLeftoverRegions())

/** Files in /dev/shm of a prefix: its region and its state segments. */
const leftovers = (prefix: string) => readdirSync('/dev/shm').filter((f) => f === `xio.${prefix}` || stateSegmentOf(f)?.prefix === prefix)

/** Running (or runnable): a process that exited is gone, even while a zombie awaiting its reaper. */
const alive = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'
  } catch {
    return false
  }
}

/** Runs TypeScript in a child node (through tsx), with args; resolves with its exit and output. */
function child(code: string, args: string[] = []) {
  const p = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', code, '--', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout!.on('data', (c: Buffer) => (out += c))
  p.stderr!.on('data', (c: Buffer) => (out += c))
  const exited = once(p, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { p, output: () => out, exited }
}

test.serial('a state segment: zeroed at first, the same bytes for the same tag and size, fresh for another, one writer process at a time', async (t) => {
  const prefix = uniquePrefix('state')
  t.teardown(() => removeStateSegments(prefix))
  const a = openState(prefix, 'nat', 0, 1000, 'layout A')
  t.false(a.resumed)
  t.true(existsSync(`/dev/shm/${stateFileName(prefix, 'nat', 0)}`))
  t.true(new Uint8Array(a.buffer).every((b) => b === 0))
  new Uint8Array(a.buffer).set([1, 2, 3])
  // The same process asking again (an NF re-created by a reload): the same memory.
  const again = openState(prefix, 'nat', 0, 1000, 'layout A')
  t.true(again.resumed)
  t.deepEqual([...new Uint8Array(again.buffer, 0, 3)], [1, 2, 3])
  new Uint8Array(again.buffer)[3] = 4
  t.is(new Uint8Array(a.buffer)[3], 4, 'one mapping')
  // Another process may not write it while this one holds it.
  const busy = child(`import { openState } from './src/xio/state.ts'
    try { openState(process.argv[1], 'nat', 0, 1000, 'layout A'); console.log('opened') } catch (e) { console.log(e.code, e.message) }`, [prefix])
  await busy.exited
  t.regex(busy.output(), new RegExp(`^STATE_BUSY .*held by a running process \\(pid ${process.pid}\\)`))
  // Another instance has a segment of its own.
  t.false(openState(prefix, 'nat', 1, 1000, 'layout A').resumed)
  // The same process asking with another layout (a reload that changed a capacity): zeroed
  // memory under the name, while the NF being replaced keeps what it has until it lets go.
  const relaid = openState(prefix, 'nat', 1, 2000, 'layout B')
  t.false(relaid.resumed)
  t.true(new Uint8Array(relaid.buffer).every((b) => b === 0))
  t.true(openState(prefix, 'nat', 1, 2000, 'layout B').resumed)
  // Another process, once none holds it, finds the bytes; with another tag or size, zeroes.
  const reader = `import { openState } from './src/xio/state.ts'
    const [prefix, bytes, tag] = process.argv.slice(1)
    const s = openState(prefix, 'fw', 0, Number(bytes), tag)
    const b = new Uint8Array(s.buffer)
    console.log(JSON.stringify({ resumed: s.resumed, first: [...b.subarray(0, 4)] }))
    b.set([9, 8, 7, 6])`
  const runReader = async (bytes: number, tag: string) => {
    const c = child(reader, [prefix, String(bytes), tag])
    const [code] = await c.exited
    t.is(code, 0, c.output())
    return JSON.parse(c.output())
  }
  t.deepEqual(await runReader(4096, 'fw v1'), { resumed: false, first: [0, 0, 0, 0] })
  t.deepEqual(await runReader(4096, 'fw v1'), { resumed: true, first: [9, 8, 7, 6] })
  t.deepEqual(await runReader(4096, 'fw v2'), { resumed: false, first: [0, 0, 0, 0] }, 'another tag: zeroed')
  t.deepEqual(await runReader(8192, 'fw v2'), { resumed: false, first: [0, 0, 0, 0] }, 'another size: zeroed')
  t.throws(() => openState(prefix, 'a.b', 0, 10, 'x'), { instanceOf: XioError, message: /cannot name a state segment/ })
  t.throws(() => openState(prefix, 'nat', 0, 0, 'x'), { instanceOf: RangeError })
  // Removing a prefix's segments leaves other prefixes' alone, a prefix that extends it included.
  const other = uniquePrefix('state')
  openState(`${prefix}.state.x`, 'nat', 0, 10, 'x')
  openState(other, 'nat', 0, 10, 'x')
  t.deepEqual(removeStateSegments(prefix).sort(), [0, 1].map((i) => `/dev/shm/${stateFileName(prefix, 'nat', i)}`).concat(`/dev/shm/${stateFileName(prefix, 'fw', 0)}`).sort())
  t.deepEqual(leftovers(prefix), [])
  t.true(existsSync(`/dev/shm/${stateFileName(other, 'nat', 0)}`))
  removeStateSegments(other)
  removeStateSegments(`${prefix}.state.x`)
  t.deepEqual(leftovers(other), [])
})

/** A state segment's NF bytes as a file read gives them (no lock taken: for when its writer is dead). */
function readSegment(prefix: string, endpoint: string, instance: number): ArrayBuffer {
  const file = readFileSync(`/dev/shm/${stateFileName(prefix, endpoint, instance)}`)
  return file.buffer.slice(file.byteOffset + 4096, file.byteOffset + file.byteLength)
}

test.serial('a NAT writer killed with SIGKILL 25 times mid-stream: each restart resumes a sound table holding every session opened before the kill', async (t) => {
  const prefix = uniquePrefix('state-kill')
  t.teardown(() => removeStateSegments(prefix))
  const capacity = 200_000
  const ext = parseIpv4('203.0.113.1')!
  const timeouts = timeoutsAt(undefined, '', NAT_DEFAULTS.timeouts)
  const code = `import nat from './src/nfs/nat/index.ts'
    import { ipv4Frame } from './src/testing/frames.ts'
    import { openState } from './src/xio/state.ts'
    const [prefix, capacity] = process.argv.slice(1)
    const env = { endpointId: () => -1, gateTarget: (g) => (g === 'outside' ? 2 : 1), now: () => 0,
      state: (bytes, tag) => openState(prefix, 'nat', 0, bytes, tag).buffer }
    const n = nat.create({ external: '203.0.113.1', maxMappings: Number(capacity), ports: [1024, 65535] }, env)
    let i = n.counters().sessionsResumed
    const frames = ['udp', 'tcp'].map((proto) => ipv4Frame({ src: '10.0.0.1', dst: '198.51.100.1', proto, srcPort: 1, dstPort: 53 }))
    const packets = frames.map((f) => ({ bytes: f, view: new DataView(f.buffer), d: 0, at: 0, length: f.length, from: 1, inPort: 1, flowHash: 0 }))
    console.log('from ' + i)
    // Inside host 10.<i>, UDP and TCP in turn: a new mapping and session each time, till 120,000.
    for (; i < 120000; i++) {
      const p = packets[i & 1]
      p.bytes.set([10, (i >> 16) & 255, (i >> 8) & 255, i & 255], 26)
      if (n.process(p) !== 1) { console.log('refused at ' + i); break }
    }
    setInterval(() => {}, 1000)`
  let resumedFrom = 0
  for (let round = 0; round < 25; round++) {
    const c = child(code, [prefix, String(capacity)])
    t.true(await until(() => /from \d+/.test(c.output()), 20_000), c.output())
    t.is(Number(/from (\d+)/.exec(c.output())![1]), resumedFrom, 'it resumed what the last one left')
    // Killed anywhere in its stream, after a few ms (some thousands of sessions).
    await new Promise((r) => setTimeout(r, 1 + ((round * 7) % 8)))
    c.p.kill('SIGKILL')
    await c.exited
    t.notRegex(c.output(), /refused/)
    // Whatever the cut: the sessions are inside hosts 0..k-1, each with a port of its own.
    const pool = () => new PortPool(1024, 65535, new Set())
    const sessions = new Sessions(capacity, ext, { tcp: pool(), udp: pool(), icmp: pool() }, timeouts, readSegment(prefix, 'nat', 0).slice(0, sessionsStateBytes(capacity)), 0)
    t.deepEqual(sessions.problems(), [])
    const hosts = sessions.list().map((x) => x.insideIp & 0xffffff).sort((a, b) => a - b)
    t.true(hosts.every((h, i) => h === i), `round ${round}: the sessions are a prefix of the stream`)
    t.true(hosts.length >= resumedFrom, 'none lost')
    t.is(new Set(sessions.list().map((x) => `${x.proto}/${x.extPort}`)).size, hosts.length, "a port of its own")
    resumedFrom = hosts.length
  }
  t.log(`${resumedFrom} sessions after 25 kills`)
  t.true(resumedFrom > 1000)
})

const FLOWS = 40

/** A chain lan → fw (stateful) → nat → wan: 40 flows from inside (UDP and TCP; each packet's IP id is its flow's number), replayed at 2000 packets/s for ever, and what leaves the NAT written to wan.pcap. */
function natChain(): { spec: string; out: string } {
  const dir = scratchDir('state')
  const w = new PcapWriter(join(dir, 'flows.pcap'))
  for (let i = 0; i < FLOWS; i++) {
    const f = ipv4Frame({ src: `10.0.0.${2 + (i % 10)}`, dst: `198.51.100.${1 + (i % 3)}`, proto: i % 2 ? 'udp' : 'tcp', srcPort: 40000 + i, dstPort: 80, tcpFlags: 0x10, id: i, payload: 20 })
    w.write(f, 0, f.length, BigInt(i) * 1000n)
  }
  w.close()
  const spec = join(dir, 'chain.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      lan: { kind: 'pcap', input: 'flows.pcap', speed: 2000, loop: 0 },
      wan: { kind: 'pcap', output: 'wan.pcap' },
      fw: { kind: 'firewall', config: { default: 'drop', stateful: true, rules: [{ action: 'allow', in: 'lan' }] } },
      nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.0/24', ports: [20000, 29999] } },
    },
    links: ['lan -> fw', 'fw -> nat', 'nat.outside -> wan', 'wan -> nat', 'nat.inside -> lan'],
  }))
  return { spec, out: join(dir, 'wan.pcap') }
}

/** Each flow's external source ports in what the NAT sent, in order of the file. */
async function portsByFlow(file: string): Promise<{ packets: number; ports: Map<number, Set<string>> }> {
  if (!existsSync(file)) return { packets: 0, ports: new Map() }
  const { records } = await readPcap(file)
  const ports = new Map<number, Set<string>>()
  for (const r of records) {
    const id = r.data.readUInt16BE(18)
    const port = `${r.data[23] === 6 ? 'tcp' : 'udp'}/${r.data.readUInt16BE(34)}`
    if (!ports.has(id)) ports.set(id, new Set())
    ports.get(id)!.add(port)
  }
  return { packets: records.length, ports }
}

const slotOf = (name: string) => (s: RegionSnapshot) => s.slots.find((x) => x.state === 'active' && x.name === name)
const natSlot = slotOf('nat')
const fwSlot = slotOf('fw')

test.serial('kill -9 of the NAT of a running chain: its restart resumes every mapping, and every flow keeps its external port; the firewall\'s restart resumes every tracked flow', async (t) => {
  t.timeout(120_000)
  const { spec, out } = natChain()
  const prefix = uniquePrefix('state-nat')
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => (natSlot(s)?.route.rxPackets ?? 0) > 0)
  t.truthy(o, chain.output())
  t.teardown(() => o?.close())
  const view = o!.view
  // Every flow through, and its mapping in the NAT's state.
  t.true(await until(async () => (await portsByFlow(out)).ports.size === FLOWS, 20_000, 200), chain.output())
  t.true(existsSync(`/dev/shm/${stateFileName(prefix, 'nat', 0)}`))
  const victim = natSlot(view.snapshot())!
  process.kill(victim.pid, 'SIGKILL')
  t.true(await until(() => {
    const s = natSlot(view.snapshot())
    return s !== undefined && s.pid !== victim.pid && s.nf.translatedOut > 10 * FLOWS
  }, 20_000, 20), `a new NAT translates: ${chain.output()}`)
  const restarted = natSlot(view.snapshot())!
  t.like(restarted.nf, { sessionsResumed: FLOWS, sessionsCreated: 0 }, 'it made no session anew')
  // What it sent reaches the file (flushed every second): then every flow has had one port.
  const seen = (await portsByFlow(out)).packets
  t.true(await until(async () => (await portsByFlow(out)).packets > seen + 10 * FLOWS, 20_000, 200))
  const { ports, packets } = await portsByFlow(out)
  t.log(`${packets} packets at the sink, ${restarted.nf.translatedOut} of them after the restart`)
  t.deepEqual([...ports.values()].map((p) => [...p]).filter((p) => p.length !== 1), [], 'one external port per flow, before and after')
  t.is(new Set([...ports.values()].map((p) => [...p][0])).size, FLOWS, 'a port of its own for each flow (each its own inside endpoint)')
  t.regex(chain.output(), new RegExp(`NF 'nat' \\(pid ${victim.pid}\\) exited SIGKILL; restarting it`))
  // The stateful firewall in front: killed, it comes back knowing every flow it tracked.
  const fw = fwSlot(view.snapshot())!
  t.is(fw.nf.conntrackActive, FLOWS)
  process.kill(fw.pid, 'SIGKILL')
  t.true(await until(() => {
    const s = fwSlot(view.snapshot())
    return s !== undefined && s.pid !== fw.pid && (s.nf.established ?? 0) > 10 * FLOWS
  }, 20_000, 20), `a new firewall passes the flows: ${chain.output()}`)
  t.like(fwSlot(view.snapshot())!.nf, { conntrackResumed: FLOWS, conntrackActive: FLOWS })
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output())
  t.false(alive(restarted.pid))
  t.deepEqual(leftovers(prefix), [], 'region and state gone with the chain')
})

test.serial('the state is the chain\'s: a kill -9 of the chain leaves it, the next run on the prefix starts afresh, and clean removes it once the chain is gone', async (t) => {
  t.timeout(120_000)
  const { spec } = natChain()
  const prefix = uniquePrefix('state-life')
  t.teardown(() => removeStateSegments(prefix))
  const runUntilMapped = async () => {
    const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
    t.teardown(() => chain.kill('SIGKILL'))
    const o = await observeWhen(prefix, (s) => natSlot(s)?.nf.mappingsActive === FLOWS)
    t.truthy(o, chain.output())
    const nat = natSlot(o!.view.snapshot())!
    const fw = fwSlot(o!.view.snapshot())!
    o!.close()
    return { chain, nat, fw }
  }
  const first = await runUntilMapped()
  t.is(first.nat.nf.sessionsResumed, 0)
  first.chain.kill('SIGKILL')
  await once(first.chain, 'exit')
  // Its NAT leaves by itself once it sees the manager gone; its state stays behind.
  t.true(await until(() => !alive(first.nat.pid) && !alive(first.fw.pid), 5000))
  t.deepEqual(leftovers(prefix).sort(), [`xio.${prefix}`, stateFileName(prefix, 'fw', 0), stateFileName(prefix, 'nat', 0)].sort())
  // A run in use keeps its own state from clean.
  const second = await runUntilMapped()
  t.is(second.nat.nf.sessionsResumed, 0, 'a new chain on the prefix: fresh state, not the dead chain\'s')
  t.is(second.fw.nf.conntrackResumed, 0)
  const inUse = await xioChain(['clean'])
  t.is(inUse.code, 0, inUse.stderr)
  t.false(inUse.stdout.includes(prefix), inUse.stdout)
  t.true(existsSync(`/dev/shm/${stateFileName(prefix, 'nat', 0)}`))
  second.chain.kill('SIGKILL')
  await once(second.chain, 'exit')
  t.true(await until(() => !alive(second.nat.pid) && !alive(second.fw.pid), 5000))
  const r = await xioChain(['clean'])
  t.is(r.code, 0, r.stderr)
  for (const nf of ['nat', 'fw']) t.true(r.stdout.includes(`removed /dev/shm/${stateFileName(prefix, nf, 0)}`), r.stdout)
  t.deepEqual(leftovers(prefix), [])
})

test.serial('an NF attached to a chain keeps its state in its instance\'s segment, and one re-created in the same process (a reload) resumes it', async (t) => {
  const m = Manager.create({ prefix: uniquePrefix('state-env'), buffers: 256 })
  t.teardown(() => {
    m.close()
    removeStateSegments(m.prefix)
  })
  m.declare('nat')
  m.start()
  const xio = await attach({ prefix: m.prefix, name: 'nat', instance: 3 })
  t.teardown(() => xio.detach())
  const config = { external: '203.0.113.1', inside: '10.0.0.0/8', maxMappings: 1000 }
  const frame = ipv4Frame({ src: '10.0.0.2', dst: '198.51.100.1', proto: 'udp', srcPort: 5000, dstPort: 53 })
  const send = (nf: { process(p: import('../../src/xio/nf-types.ts').Packet): number }) => {
    const b = frame.slice()
    const p = { bytes: b, view: new DataView(b.buffer), d: 0, at: 0, length: b.length, from: 0, inPort: 0, flowHash: 0 }
    t.is(nf.process(p), 1)
    return (b[34] << 8) | b[35]
  }
  const first = nat.create(config, nfEnv(xio, nat.gates))
  const port = send(first)
  t.true(existsSync(`/dev/shm/${stateFileName(m.prefix, 'nat', 3)}`), 'the segment of instance 3 of nat')
  const again = nat.create(config, nfEnv(xio, nat.gates))
  t.like(again.counters!(), { sessionsResumed: 1, mappingsActive: 1 })
  t.is(send(again), port)
  t.is(again.counters!().sessionsCreated, 0)
})
