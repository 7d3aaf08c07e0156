// `xio-chain capture` on a real running chain (generators → firewall → sink, started with
// `xio-chain run`), read back by tshark and tcpdump: what each tap sees, the filter, a slow or
// killed capture that costs the chain nothing, and nothing left behind when it leaves.
import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bin, root, startXioChain, tsharkFields, xioChain } from '../helpers/cli.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { observe, type Observer, type RegionSnapshot } from '../../src/xio/index.ts'
import { compileFilter, filterRules } from '../../src/cli/capture-filter.ts'
import { resolveTaps } from '../../src/cli/capture.ts'
import { buildIpv4Frame, IPPROTO_TCP, IPPROTO_UDP, parseIpv4 } from '../../src/packet/index.ts'

const dir = scratchDir('capture')

// Web (TCP 80) and DNS (UDP 53) traffic into a firewall that drops the web traffic to
// 198.51.100.0/26 (9 of the 16 web flows) and passes the rest to a sink.
function spec(name: string, web: object, dns: object): string {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({
    endpoints: {
      web: { kind: 'generator', proto: 'tcp', dstPort: 80, src: '10.0.0.0/24', dst: '198.51.100.0/24', flows: 16, ...web },
      dns: { kind: 'generator', proto: 'udp', dstPort: 53, src: '10.0.1.0/24', dst: '198.51.100.0/24', flows: 8, ...dns },
      fw: { kind: 'firewall', config: { default: 'allow', rules: [{ action: 'drop', proto: 'tcp', dst: '198.51.100.0/26' }] } },
      sink: { kind: 'sink' },
    },
    links: ['web -> fw', 'dns -> fw', 'fw -> sink'],
  }))
  return file
}

const dropped = (proto: string, dst: string) => proto === '6' && (parseIpv4(dst)! & 0xffffffc0) >>> 0 === parseIpv4('198.51.100.0')! >>> 0

interface Chain {
  prefix: string
  process: ChildProcess & { output: () => string }
  observer: Observer
}

async function runChain(file: string, tag: string): Promise<Chain> {
  const prefix = uniquePrefix(tag)
  const chain = startXioChain(['run', file, '--no-tui', '--prefix', prefix])
  if (!(await until(() => chain.output().includes('running on prefix'), 30_000, 50))) throw new Error(`the chain did not start: ${chain.output()}`)
  return { prefix, process: chain, observer: observe(prefix) }
}

async function stopChain(c: Chain | undefined) {
  if (!c) return
  c.observer.close()
  if (c.process.exitCode === null && c.process.signalCode === null) {
    c.process.kill('SIGINT')
    await once(c.process, 'exit')
  }
}

function captureProcess(args: string[], stdout: 'pipe' | 'ignore' = 'pipe') {
  const child = spawn(process.execPath, [bin, 'capture', ...args], { cwd: root, stdio: ['ignore', stdout, 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => (stderr += c))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, stderr: () => stderr, exited }
}

const slotOf = (s: RegionSnapshot, name: string) => s.slots.filter((x) => x.state === 'active' && x.name === name)
const total = (s: RegionSnapshot, name: string, k: 'rxPackets' | 'txPackets' | 'dropped') => slotOf(s, name).reduce((n, x) => n + x.route[k], 0)
const captures = (s: RegionSnapshot) => s.slots.filter((x) => x.capture && x.state !== 'free')

test('the filter reads as tcpdump users write it, as firewall rule fields', (t) => {
  t.deepEqual(filterRules('proto tcp and dst 10.0.0.0/8 and dstPort 80'), [{ proto: 'tcp', dst: '10.0.0.0/8', dstPort: 80 }])
  t.deepEqual(filterRules('udp port 53 or icmp'), [{ proto: 'udp', srcPort: 53 }, { proto: 'udp', dstPort: 53 }, { proto: 'icmp' }])
  t.deepEqual(filterRules('tcp src port 1024-2047 && dst net 10.0.0.0/8,192.168.0.0/16'), [{ proto: 'tcp', srcPort: '1024-2047', dst: ['10.0.0.0/8', '192.168.0.0/16'] }])
  t.deepEqual(filterRules('{"proto": "tcp", "dstPort": [80, 443]}'), [{ proto: 'tcp', dstPort: [80, 443] }])
  t.throws(() => filterRules('not tcp'), { message: /'not' is not in a filter's vocabulary/ })
  t.throws(() => filterRules('src 10.0.0.1 and src 10.0.0.2'), { message: /'src' is given twice/ })
  t.throws(() => filterRules('tcp and'), { message: /at the end wants a field/ })
  t.throws(() => filterRules('tcp prt 80'), { message: /^--filter: unknown word 'prt' \(did you mean 'port'\?\); a filter takes tcp, udp/ })
  // A mistake is blamed on the words the filter said it with, not on the rule fields they give.
  const none = () => -1
  t.throws(() => compileFilter('tcp port 99999', none), { message: /^--filter: port: expected an integer from 0 to 65535, got 99999/ })
  t.throws(() => compileFilter('udp and dst port 70000', none), { message: /^--filter: dst port: expected an integer/ })
  t.throws(() => compileFilter('tcp and sport 1 or udp and srcPort 70000', none), { message: /^--filter: srcPort: expected an integer/ })
  t.throws(() => compileFilter('{"srcPort": 70000}', none), { message: /^--filter: srcPort: expected an integer/ })
  t.throws(() => compileFilter('icmp and dstPort 80', () => -1), { message: /dstPort: ports only exist for tcp and udp/ })
  // The firewall's own matching: an IPv4 rule, ports on TCP and UDP.
  const frame = new Uint8Array(128)
  const keep = compileFilter('tcp and dst 10.0.0.0/8 and dstPort 80', () => -1)
  const view = new DataView(frame.buffer)
  const check = (proto: number, dst: string, dstPort: number) => {
    const n = buildIpv4Frame(frame, 0, { src: parseIpv4('192.0.2.1')!, dst: parseIpv4(dst)!, proto, srcPort: 4000, dstPort })
    return keep.keep(frame, view, 0, n, 0)
  }
  t.true(check(IPPROTO_TCP, '10.1.2.3', 80))
  t.false(check(IPPROTO_UDP, '10.1.2.3', 80))
  t.false(check(IPPROTO_TCP, '11.1.2.3', 80))
  t.false(check(IPPROTO_TCP, '10.1.2.3', 443))
})

test('--at names what the chain names: rx, tx, a gate by name or number, a link', (t) => {
  const none = Array(8).fill(null)
  const snapshot = {
    prefix: 'p',
    services: [
      { id: 0, name: 'lan', instances: 1, deaths: 0, routes: [1, ...none.slice(1)] },
      { id: 1, name: 'my-nat', instances: 1, deaths: 0, routes: [2, 0, ...none.slice(2)] },
      { id: 2, name: 'wan', instances: 1, deaths: 0, routes: [1, ...none.slice(1)] },
    ],
  } as unknown as RegionSnapshot
  const gates = new Map<string, readonly string[]>([['lan', ['out']], ['my-nat', ['outside', 'inside']], ['wan', ['out']]])
  const r = resolveTaps(['my-nat.rx', 'my-nat.inside', 'lan.0', 'wan.tx', 'my-nat->wan', 'wan -> my-nat'], snapshot, gates)
  t.deepEqual(r.taps, [
    { service: 1, kind: 'rx' },
    { service: 1, kind: 'gate', gate: 1 },
    { service: 0, kind: 'gate', gate: 0 },
    { service: 2, kind: 'tx' },
    { service: 1, kind: 'gate', gate: 0 },
    { service: 2, kind: 'gate', gate: 0 },
  ])
  t.throws(() => resolveTaps(['my-nat.out'], snapshot, gates), { message: "--at my-nat.out: my-nat has no gate 'out' (have: lan: rx, tx, out; my-nat: rx, tx, outside, inside; wan: rx, tx, out)" })
  t.throws(() => resolveTaps(['lan->wan'], snapshot, gates), { message: /--at lan->wan: lan has no gate linked to wan/ })
  t.throws(() => resolveTaps(['lan'], snapshot, gates), { message: /--at lan: say lan\.rx \(what it receives\), lan\.tx \(all it sends\) or lan\.<gate>/ })
  // Without the spec, gates go by number, and those wired are listed.
  t.throws(() => resolveTaps(['my-nat.outside'], snapshot, new Map()), { message: /my-nat has no gate 'outside' \(have: lan: rx, tx, 0; my-nat: rx, tx, 0, 1; wan: rx, tx, 0\)/ })
})

test('--at refuses a link inside a placement group (a call the manager never sees), naming where its packets can be seen', (t) => {
  // lan -> fw -> nat -> wan and wan -> nat -> lan, with fw and nat in group 'edge'.
  const none = Array(7).fill(null)
  const snapshot = {
    prefix: 'p',
    services: [
      { id: 0, name: 'lan', routes: [1, ...none] },
      { id: 1, name: 'fw', routes: [2, ...none] },
      { id: 2, name: 'nat', routes: [3, 0, ...none.slice(1)] },
      { id: 3, name: 'wan', routes: [2, ...none] },
    ],
  } as unknown as RegionSnapshot
  const gates = new Map<string, readonly string[]>([['lan', ['out']], ['fw', ['out']], ['nat', ['outside', 'inside']], ['wan', ['out']]])
  const groups = new Map([['fw', 'edge'], ['nat', 'edge']])
  const edges = 'edge.rx (fw.rx, nat.rx), edge.tx (nat.outside, nat.inside)'
  t.throws(() => resolveTaps(['fw->nat'], snapshot, gates, groups), { message: `--at fw->nat: fw -> nat is a link inside placement group 'edge', a call in one process that the manager never sees; its packets can be seen where they enter or leave it: ${edges}` })
  t.throws(() => resolveTaps(['fw.out'], snapshot, gates, groups), { message: /^--at fw\.out: fw\.out leads to nat inside placement group 'edge'/ })
  t.throws(() => resolveTaps(['fw.tx'], snapshot, gates, groups), { message: /^--at fw\.tx: everything fw sends comes by links inside placement group 'edge'/ })
  // What a refusal offers instead is only what would be taken: not fw.tx or fw.out.
  t.throws(() => resolveTaps(['fw.in'], snapshot, gates, groups), { message: "--at fw.in: fw has no gate 'in' (have: lan: rx, tx, out; fw: rx; nat: rx, tx, outside, inside; wan: rx, tx, out; group edge: rx, tx)" })
  // The group by its name: what enters it and what leaves it, each tap labelled as asked.
  t.deepEqual(resolveTaps(['edge.rx', 'edge.tx'], snapshot, gates, groups), {
    taps: [{ service: 1, kind: 'rx' }, { service: 2, kind: 'rx' }, { service: 2, kind: 'gate', gate: 0 }, { service: 2, kind: 'gate', gate: 1 }],
    labels: ['edge.rx', 'edge.rx', 'edge.tx', 'edge.tx'],
    warnings: [],
  })
  t.throws(() => resolveTaps(['edge'], snapshot, gates, groups), { message: "--at edge: say edge.rx (what enters placement group 'edge') or edge.tx (what leaves it)" })
  t.throws(() => resolveTaps(['edge.out'], snapshot, gates, groups), { message: /^--at edge\.out: say edge\.rx/ })
  // nat receives from wan too: a tap on its input sees that part, and says so.
  const partial = resolveTaps(['nat.rx', 'fw.rx', 'nat.outside'], snapshot, gates, groups)
  t.deepEqual(partial.taps, [{ service: 2, kind: 'rx' }, { service: 1, kind: 'rx' }, { service: 2, kind: 'gate', gate: 0 }])
  t.deepEqual(partial.warnings, ["--at nat.rx: only what nat receives from outside placement group 'edge'; from fw it is a call the manager never sees"])
  // Without groups, the same taps are plain ones.
  t.deepEqual(resolveTaps(['fw->nat', 'fw.tx'], snapshot, gates).warnings, [])
  // Fed by fw alone, nat's input is all calls, unless it runs as several instances: they hand
  // one another packets through the manager (a NAT's, to the instance holding the session).
  const fedByFw = { ...snapshot, services: snapshot.services.map((s) => (s.name === 'wan' ? { ...s, routes: [null, ...none] } : { ...s, instances: 1 })) } as unknown as RegionSnapshot
  t.throws(() => resolveTaps(['nat.rx'], fedByFw, gates, groups), { message: /^--at nat\.rx: everything nat receives comes by links inside placement group 'edge'/ })
  const spread = { ...fedByFw, services: fedByFw.services.map((s) => (s.name === 'nat' ? { ...s, instances: 3 } : s)) } as unknown as RegionSnapshot
  t.deepEqual(resolveTaps(['nat.rx'], spread, gates, groups), {
    taps: [{ service: 2, kind: 'rx' }],
    labels: ['nat.rx'],
    warnings: ["--at nat.rx: only what nat receives from outside placement group 'edge' and what its instances hand one another; from fw it is a call the manager never sees"],
  })
  // Fed by lan alone and leading nowhere but to wan: the group's input is fw's, and nat's
  // instances' handoffs are not what enters it.
  t.deepEqual(resolveTaps(['edge.rx'], spread, gates, groups).taps, [{ service: 1, kind: 'rx' }])
  const closed = { ...snapshot, services: snapshot.services.map((s) => (s.name === 'nat' ? { ...s, routes: [null, null, ...none.slice(1)] } : s)) } as unknown as RegionSnapshot
  t.throws(() => resolveTaps(['edge.tx'], closed, gates, groups), { message: "--at edge.tx: nothing leaves placement group 'edge' (no member's gate leads out of it)" })
})

test('--at nat.rx in a group whose NAT runs as two instances: the packets one instance hands the other, untranslated', async (t) => {
  // web -> fw -> nat in group 'edge' of two instances: nat's input is a call from fw, but an
  // outbound packet that meets the instance not owning its inside endpoint is handed to the
  // other through the manager, which copies it there.
  const file = join(dir, 'spread.json')
  writeFileSync(file, JSON.stringify({
    endpoints: {
      web: { kind: 'generator', proto: 'tcp', dstPort: 80, src: '10.0.0.0/24', dst: '198.51.100.0/24', flows: 64, rate: 2000 },
      fw: { kind: 'firewall', group: 'edge', instances: 2, config: { default: 'allow' } },
      nat: { kind: 'nat', group: 'edge', instances: 2, config: { external: '203.0.113.1', inside: '10.0.0.0/8' } },
      sink: { kind: 'sink' },
    },
    links: ['web -> fw', 'fw -> nat', 'nat.outside -> sink', 'nat.inside -> web'],
  }))
  const chain = await runChain(file, 'cap-spread')
  t.teardown(() => stopChain(chain))
  const capture = join(dir, 'handed.pcap')
  const r = await xioChain(['capture', '--prefix', chain.prefix, '--at', 'nat.rx', '-c', '20', '-w', capture])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /only what nat receives from outside placement group 'edge' and what its instances hand one another; from fw it is a call/)
  t.regex(r.stderr, /^20 packets captured at nat\.rx$/m)
  const frames = await tsharkFields(capture, ['ip.src', 'ip.dst'])
  t.is(frames.length, 20)
  // As the firewall passed them, before any NAT instance translated them.
  for (const [src, dst] of frames) {
    t.regex(src, /^10\.0\.0\.\d+$/)
    t.regex(dst, /^198\.51\.100\.\d+$/)
  }
})

test('--at edge.rx and edge.tx: what enters a placement group, as the firewall got it, and what leaves it, translated', async (t) => {
  const file = join(dir, 'grouped.json')
  writeFileSync(file, JSON.stringify({
    endpoints: {
      web: { kind: 'generator', proto: 'tcp', dstPort: 80, src: '10.0.0.0/24', dst: '198.51.100.0/24', flows: 16, rate: 2000 },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/8' } },
      sink: { kind: 'sink' },
    },
    links: ['web -> fw', 'fw -> nat', 'nat.outside -> sink', 'nat.inside -> web'],
  }))
  const chain = await runChain(file, 'cap-group')
  t.teardown(() => stopChain(chain))
  const sources = async (at: string) => {
    const capture = join(dir, `${at}.pcap`)
    const r = await xioChain(['capture', '--prefix', chain.prefix, '--at', at, '-c', '20', '-w', capture])
    t.is(r.code, 0, r.stderr)
    t.regex(r.stderr, new RegExp(`^20 packets captured at ${at}$`, 'm'))
    return (await tsharkFields(capture, ['ip.src'])).map(([src]) => src)
  }
  const entering = await sources('edge.rx')
  t.is(entering.length, 20)
  for (const src of entering) t.regex(src, /^10\.0\.0\.\d+$/)
  t.deepEqual(new Set(await sources('edge.tx')), new Set(['203.0.113.1']))
})

// One chain for the taps, the filter and the refusals; its traffic never stops.
let steady: Chain | undefined
test.before(async () => {
  steady = await runChain(spec('steady', { rate: 3000 }, { rate: 1000 }), 'cap')
})
test.after.always(() => stopChain(steady))

test.serial('-w file -c 50 --at fw.out: 50 frames tshark reads, every one a frame the firewall passes', async (t) => {
  const file = join(dir, 'out.pcap')
  const r = await xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw.out', '-c', '50', '-w', file])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /^50 packets captured at fw\.out$/m)
  const frames = await tsharkFields(file, ['ip.proto', 'ip.dst', 'tcp.dstport', 'udp.dstport'])
  t.is(frames.length, 50)
  t.false(frames.some(([proto, dst]) => dropped(proto, dst)), 'nothing the firewall drops')
  t.true(frames.some(([proto]) => proto === '6') && frames.some(([proto]) => proto === '17'), 'both kinds of traffic it passes')
})

test.serial('-w - streams into tcpdump -nr - through a pipe; a reader that leaves ends it cleanly', async (t) => {
  const shell = spawn('sh', ['-c', `"${process.execPath}" "${bin}" capture --prefix ${steady!.prefix} --at sink.rx -c 30 -w - | tcpdump -nr -`], { cwd: root })
  let out = '', err = ''
  shell.stdout.on('data', (c: Buffer) => (out += c))
  shell.stderr.on('data', (c: Buffer) => (err += c))
  const [code] = await once(shell, 'close')
  t.is(code, 0, err)
  const lines = out.trim().split('\n')
  t.is(lines.length, 30, out)
  t.true(lines.every((l) => / IP 10\.0\.[01]\.\d+\.\d+ > 198\.51\.100\.\d+\.(80|53): /.test(l)), out)
  t.regex(err, /30 packets captured at sink\.rx/)
  // A reader that goes away (EPIPE) ends the capture as cleanly, leaving no taps.
  const head = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${bin}" capture --prefix ${steady!.prefix} --at fw.rx -w - | head -c 2000 > /dev/null`], { cwd: root })
  let headErr = ''
  head.stderr.on('data', (c: Buffer) => (headErr += c))
  t.is((await once(head, 'exit'))[0], 0, headErr)
  t.true(await until(() => steady!.observer.view.snapshot().manager.taps === 0))
})

test.serial('--filter keeps only what matches, written as an expression or as JSON rule fields', async (t) => {
  const udp = join(dir, 'udp.pcap'), tcp = join(dir, 'tcp.pcap')
  const [a, b] = await Promise.all([
    xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw.rx', '-c', '40', '--filter', 'udp and dstPort 53', '-w', udp]),
    xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw.rx', '-c', '40', '--filter', '{"proto": "tcp", "dst": "198.51.100.0/26"}', '-w', tcp]),
  ])
  t.is(a.code, 0, a.stderr)
  t.is(b.code, 0, b.stderr)
  t.regex(a.stderr, /\d+ copies seen, \d+ did not match the filter/)
  const dns = await tsharkFields(udp, ['ip.proto', 'udp.dstport'])
  t.is(dns.length, 40)
  t.true(dns.every(([proto, port]) => proto === '17' && port === '53'))
  const web = await tsharkFields(tcp, ['ip.proto', 'ip.dst'])
  t.is(web.length, 40)
  t.true(web.every(([proto, dst]) => dropped(proto, dst)), 'only the traffic the firewall drops')
})

test.serial('a tap on fw.rx sees what the firewall drops, one on fw.out does not', async (t) => {
  const rx = join(dir, 'rx.pcap'), out = join(dir, 'fwout.pcap')
  const [a, b] = await Promise.all([
    xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw.rx', '-c', '200', '-w', rx]),
    xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw->sink', '-c', '200', '-w', out]),
  ])
  t.is(a.code, 0, a.stderr)
  t.is(b.code, 0, b.stderr)
  const seen = await tsharkFields(rx, ['ip.proto', 'ip.dst'])
  const passed = await tsharkFields(out, ['ip.proto', 'ip.dst'])
  t.is(seen.length, 200)
  t.is(passed.length, 200)
  t.true(seen.filter(([p, d]) => dropped(p, d)).length > 20, 'about 40% of what reaches fw is dropped there')
  t.is(passed.filter(([p, d]) => dropped(p, d)).length, 0)
  // Every capture has left: no taps, no capture slot.
  t.true(await until(() => steady!.observer.view.snapshot().manager.taps === 0 && captures(steady!.observer.view.snapshot()).length === 0))
})

const refusals: [string, string[], RegExp][] = [
  ['an unknown endpoint', ['--at', 'fx.out'], /--at fx\.out: no endpoint 'fx' on prefix '[^']+' \(have: web: rx, tx, out; dns: rx, tx, out; fw: rx, tx, out; sink: rx\)/],
  ['a sink\'s output', ['--at', 'sink.out'], /--at sink\.out: sink sends nothing \(a sink\); sink\.rx sees what reaches it/],
  ['a sink without rx', ['--at', 'sink'], /--at sink: say sink\.rx, what reaches it \(a sink, it sends nothing\)/],
  ['an unknown gate', ['--at', 'fw.in'], /--at fw\.in: fw has no gate 'in' \(have: .*fw: rx, tx, out/],
  ['a bad filter', ['--at', 'fw.out', '--filter', 'tcp and dstPort 99999'], /--filter: dstPort: expected an integer from 0 to 65535, got 99999/],
  ['a filter outside the vocabulary', ['--at', 'fw.out', '--filter', 'tcp or not udp'], /--filter: 'not' is not in a filter's vocabulary/],
  ['an unwritable -w file', ['--at', 'fw.out', '-w', '/nonexistent/x.pcap'], /-w \/nonexistent\/x\.pcap: cannot write: no such file or folder/],
  ['-c 0', ['--at', 'fw.out', '-c', '0'], /-c 0: expected a number of packets above 0/],
]
for (const [what, args, message] of refusals) {
  test(`capture refuses ${what} in one line, exit 1, attaching nothing`, async (t) => {
    const w = args.includes('-w') ? [] : ['-w', join(dir, 'never.pcap')]
    const r = await xioChain(['capture', '--prefix', steady!.prefix, ...args, ...w])
    t.is(r.code, 1)
    t.regex(r.stderr, message)
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr)
    t.is(captures(steady!.observer.view.snapshot()).length, 0)
  })
}

test.serial('four captures at once are served; a fifth is refused in one line, so captures never take the slots restarts need', async (t) => {
  const view = steady!.observer.view
  const four = Array.from({ length: 4 }, (_, i) => captureProcess(['--prefix', steady!.prefix, '--at', 'fw.rx', '-w', join(dir, `four-${i}.pcap`)], 'ignore'))
  try {
    t.true(await until(() => view.snapshot().manager.taps === 4, 20_000), four.map((c) => c.stderr()).join(''))
    const fifth = await xioChain(['capture', '--prefix', steady!.prefix, '--at', 'fw.rx', '-w', join(dir, 'fifth.pcap')])
    t.is(fifth.code, 1)
    t.regex(fifth.stderr.trim(), /^xio-chain capture: the chain on prefix '.*' already has 4 captures or traces attached, the most it takes; end one first$/)
  } finally {
    for (const c of four) c.child.kill('SIGTERM')
    await Promise.all(four.map((c) => c.exited))
  }
  t.true(await until(() => captures(view.snapshot()).length === 0, 10_000))
})

test.serial('a capture whose reader never reads, and one killed with SIGKILL, cost the chain no packet; then nothing is left', async (t) => {
  const web = 30_000, dns = 10_000
  let chain: Chain | undefined
  try {
    // Five seconds of traffic, so the captures attach while most of it is still to come; big
    // frames, so the stuck one's output backs up soon.
    chain = await runChain(spec('bounded', { rate: 6000, count: web, size: 1000 }, { rate: 2000, count: dns, size: 1000 }), 'caploss')
    const view = chain.observer.view
    // Its standard output is a pipe nobody drains: the capture backs up, then copies are lost.
    const stuck = captureProcess(['--prefix', chain.prefix, '--at', 'fw.rx', '-w', '-'], 'pipe')
    const killed = captureProcess(['--prefix', chain.prefix, '--at', 'fw.out', '--at', 'sink.rx', '-w', join(dir, 'killed.pcap')], 'ignore')
    t.true(await until(() => view.snapshot().manager.taps === 3, 20_000), `${stuck.stderr()}${killed.stderr()}`)
    t.true(await until(() => view.snapshot().manager.captured > 1000, 20_000))
    killed.child.kill('SIGKILL')
    t.true(await until(() => view.snapshot().manager.taps === 1), 'the killed capture\'s taps went with it')
    // Every packet sent gets through the firewall to the sink, or is dropped by the firewall.
    t.true(await until(() => total(view.snapshot(), 'web', 'txPackets') === web && total(view.snapshot(), 'dns', 'txPackets') === dns, 20_000))
    t.true(await until(() => {
      const s = view.snapshot()
      return total(s, 'fw', 'rxPackets') === web + dns && total(s, 'fw', 'txPackets') + total(s, 'fw', 'dropped') === web + dns &&
        total(s, 'sink', 'rxPackets') === total(s, 'fw', 'txPackets')
    }, 10_000), JSON.stringify(view.snapshot().slots.filter((x) => x.state === 'active').map((x) => [x.name, x.route])))
    const s = view.snapshot()
    // About the 7 web flows of 16 it passes, and all of DNS (the generator's round robin skips a
    // flow when the chain pushes a burst back).
    t.true(Math.abs(total(s, 'sink', 'rxPackets') - (web + dns - (web * 9) / 16)) < 200, `${total(s, 'sink', 'rxPackets')} reached the sink`)
    t.true(s.manager.captureLost > 0, 'the stuck capture lost copies')
    // What it holds meanwhile is within the captures' share of the pool (an eighth), whatever its ring.
    const held = captures(s).reduce((n, c) => n + c.rings.rx.used, 0)
    t.true(held <= s.pool.buffers / 8, `captures hold ${held} of ${s.pool.buffers} buffers`)
    t.is(s.manager.noRoute + s.manager.invalid + s.manager.oversize, 0)

    // The stuck one leaves on SIGTERM though its output is full, saying what it lost.
    stuck.child.kill('SIGTERM')
    const [code] = await stuck.exited
    t.is(code, 0, stuck.stderr())
    t.regex(stuck.stderr(), /^\d+ copies lost: the reader was slower than the chain, or copies were over their share of the pool$/m)
    t.true(await until(() => view.snapshot().manager.taps === 0 && captures(view.snapshot()).length === 0))
    t.true(await until(() => view.buffersInUse() === 0), `${view.buffersInUse()} buffers still out of the pool`)
  } finally {
    await stopChain(chain)
  }
})
