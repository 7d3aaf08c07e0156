// The afpacket port on its own: what stops a chain at start (a missing interface, no
// CAP_NET_RAW, an MTU the pool cannot hold), the flow hash its native threads give frames, and
// frames carried both ways between two real interfaces.
import test from 'ava'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addon } from '../../src/xio/native.ts'
import { Headers, parse, symmetricFlowHashOf } from '../../src/packet/index.ts'
import { quietRootEnd, SYSTEM_PATH } from '../../src/cli/lab.ts'
import { ipv4Frame } from '../../src/testing/frames.ts'
import { bin, xioChain } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { inNamespace, startChain, startPeer, stop, stopChain } from '../helpers/lab.ts'
import { attach, Manager } from '../../src/xio/index.ts'
import { uniquePrefix } from '../helpers/processes.ts'

const dir = scratchDir('afpacket')
const ip = (...args: string[]) => execFileSync('ip', args, { env: { ...process.env, PATH: SYSTEM_PATH }, stdio: 'pipe' })
// Interfaces and namespaces of this file only, so it never meets the lab.
const A = `xa-${process.pid % 10000}`
const B = `xb-${process.pid % 10000}`
const NS_A = `xio-a-${process.pid}`
const NS_B = `xio-b-${process.pid}`

function spec(name: string, endpoints: object, links: string[], extra: object = {}): string {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({ name, endpoints, links, ...extra }))
  return file
}

test.after.always(() => {
  for (const link of [A, B, `${A}m`]) {
    try {
      ip('link', 'del', link)
    } catch {}
  }
  for (const ns of [NS_A, NS_B]) {
    try {
      ip('netns', 'del', ns)
    } catch {}
  }
})

test('a missing interface stops run at start, naming it', async (t) => {
  const file = spec('missing', { wire: { kind: 'afpacket', interface: 'xl-nowhere' }, sink: { kind: 'sink' } }, ['wire -> sink'])
  const r = await xioChain(['run', file, '--no-tui', '--duration', '5'])
  t.is(r.code, 1)
  t.regex(r.stderr, /\/endpoints\/wire: no interface named xl-nowhere/)
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr)
})

test('without CAP_NET_RAW, run stops at start saying what is missing', async (t) => {
  ip('link', 'add', A, 'type', 'veth', 'peer', 'name', B)
  try {
    const file = spec('nocap', { wire: { kind: 'afpacket', interface: A }, sink: { kind: 'sink' } }, ['wire -> sink'])
    // Root without CAP_NET_RAW: dropped from the bounding and inheritable sets before exec.
    let r
    try {
      const stdout = execFileSync('setpriv', ['--inh-caps=-net_raw', '--bounding-set=-net_raw', process.execPath, bin, 'run', file, '--no-tui', '--duration', '5'], { stdio: 'pipe', encoding: 'utf8' })
      r = { code: 0, stderr: '', stdout }
    } catch (e) {
      const error = e as { status: number; stderr: string }
      r = { code: error.status, stderr: error.stderr }
    }
    t.is(r.code, 1)
    t.regex(r.stderr, new RegExp(`opening interface ${A} needs CAP_NET_RAW`))
  } finally {
    ip('link', 'del', A)
  }
})

test('an MTU whose frames would not fit a pool buffer is refused at start', async (t) => {
  ip('link', 'add', `${A}m`, 'mtu', '9000', 'type', 'veth', 'peer', 'name', `${B}m`)
  const file = spec('jumbo', { wire: { kind: 'afpacket', interface: `${A}m` }, sink: { kind: 'sink' } }, ['wire -> sink'])
  const r = await xioChain(['run', file, '--no-tui', '--duration', '5'])
  t.is(r.code, 1)
  t.regex(r.stderr, new RegExp(`interface ${A}m has MTU 9000: its frames \\(up to 9018 bytes\\) do not fit the pool's \\d+-byte buffers`))
  ip('link', 'del', `${A}m`)
})

test('the native flow hash of a frame is the one src/packet gives it (symmetricFlowHashOf)', (t) => {
  const h = new Headers()
  const expected = (f: Uint8Array) => (parse(f, 0, f.length, h) === 0 ? symmetricFlowHashOf(h) : 0)
  const addr = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'))
  fc.assert(fc.property(
    addr, addr, fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'), fc.nat(65535), fc.nat(65535),
    fc.array(fc.nat(4095), { maxLength: 2 }), fc.nat(3), fc.nat(40),
    (src, dst, proto, srcPort, dstPort, vlan, fragOffset, cut) => {
      const frame = ipv4Frame({ src, dst, proto, srcPort, dstPort, vlan, fragOffset, payload: 20 })
      for (const f of [frame, frame.subarray(0, Math.max(0, frame.length - cut))]) t.is(addon.frameFlowHash(f), expected(f))
    },
  ))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (f) => addon.frameFlowHash(f) === expected(f)))
})

test('frames cross between two real interfaces both ways, counted by each port', async (t) => {
  // Two namespaces on one link, each behind its own veth, with the chain as the wire between.
  // Addresses of the benchmarking range (RFC 2544), which no machine here lives on.
  for (const [ns, end, address] of [[NS_A, A, '198.18.7.1'], [NS_B, B, '198.18.7.2']]) {
    ip('netns', 'add', ns)
    ip('link', 'add', end, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    quietRootEnd(end)
    ip('link', 'set', end, 'up')
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
    ip('-n', ns, 'link', 'set', 'eth0', 'up')
  }
  const file = spec('wire', { a: { kind: 'afpacket', interface: A }, b: { kind: 'afpacket', interface: B } }, ['a -> b', 'b -> a'])
  const chain = await startChain(file, `t-wire-${process.pid}`)
  const r = await inNamespace(NS_A, ['ping', '-n', '-c', '5', '-i', '0.2', '-W', '5', '198.18.7.2'])
  // The hosts' veths keep their default offloads: TCP leaves them with its checksum unfinished,
  // and the port must finish it, as the NIC would have, for the other host to accept it.
  const server = await startPeer(NS_B, ['http', '8000'])
  const web = await inNamespace(NS_A, ['curl', '-s', '--max-time', '10', 'http://198.18.7.2:8000/'])
  await stop(server)
  t.is(await stopChain(chain), 0, chain.output())
  t.regex(r.stdout, /5 packets transmitted, 5 received/, r.stdout + r.stderr)
  t.is(web.stdout, '198.18.7.1', web.stderr)
  // ARP and ICMP both ways: each port took in what the other sent out.
  const stats = (port: string) => JSON.parse(new RegExp(`^${port}: (\\{.*\\})$`, 'm').exec(chain.output())![1])
  const [a, b] = [stats('a'), stats('b')]
  t.true(a.rxFrames >= 6 && b.rxFrames >= 6, JSON.stringify({ a, b }))
  t.is(a.txFrames, b.rxFrames)
  t.is(b.txFrames, a.rxFrames)
  t.is(a.kernelDrops + b.kernelDrops + a.txErrors + b.txErrors, 0)
  t.true(a.checksumsCompleted > 0 && b.checksumsCompleted > 0, JSON.stringify({ a, b }))
})

test('while its threads drive an endpoint, JavaScript can neither use nor detach it', async (t) => {
  ip('link', 'add', `${A}d`, 'type', 'veth', 'peer', 'name', `${B}d`)
  const manager = Manager.create({ prefix: uniquePrefix('driven'), slots: 4 })
  try {
    manager.declare('wire')
    manager.start({})
    const xio = await attach({ prefix: manager.prefix, name: 'wire' })
    const port = new addon.AfPacket(xio.nativeEndpoint, { interface: `${A}d` })
    t.throws(() => xio.rx(new Uint32Array(8)), { message: /driven by its afpacket port's threads/ })
    t.throws(() => xio.detach(), { message: /driven by its afpacket port's threads/ })
    t.throws(() => new addon.AfPacket(xio.nativeEndpoint, { interface: `${A}d` }), { message: /already driven/ })
    port.stop()
    t.is(xio.rx(new Uint32Array(8)), 0)
    xio.detach()
  } finally {
    manager.close()
    ip('link', 'del', `${A}d`)
  }
})
