// Placement groups, end to end: a firewall and a forwarder named in one group run in one process
// per instance, a packet going fw.process → fwd.process with no hop between (the manager routes
// it twice, not three times), flows spread over the group's instances as over an NF's, the
// members' configs change live, and a group process killed with SIGKILL comes back; a firewall
// and a NAT in one group are rewired and placed by reloads (a NAT spread over instances: test/lab/nat-instances.test.ts).
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readPcap } from '../../src/chain/pcap.ts'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { startXioChain, xioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('group')
const specOf = (telnetRule: boolean) => ({
  endpoints: {
    gen: { kind: 'generator', flows: 32, rate: 4000, sequence: true },
    fw: {
      kind: 'firewall',
      group: 'edge',
      instances: 2,
      config: { default: 'drop', nonIp: 'drop', rules: [...(telnetRule ? [{ action: 'drop', proto: 'tcp', dstPort: 23 }] : []), { action: 'allow', proto: 'udp' }] },
    },
    fwd: { kind: 'l2fwd', group: 'edge', instances: 2 },
    out: { kind: 'pcap', output: 'out.pcap' },
  },
  links: ['gen -> fw', 'fw -> fwd', 'fwd -> out'],
})
const specA = join(dir, 'a.json')
const specB = join(dir, 'b.json')
writeFileSync(specA, JSON.stringify(specOf(false)))
writeFileSync(specB, JSON.stringify(specOf(true)))

const active = (s: RegionSnapshot) => s.slots.filter((x) => x.state === 'active')
const sent = (s: RegionSnapshot) => active(s).find((x) => x.name === 'gen')?.route.txPackets ?? 0

/**
 * `run` on spec under a prefix of its own, once `ready` says so (its generator under way); a
 * failed test's chain is killed at its end. stop() ends it as Ctrl-C does, and checks it exits 0.
 */
async function runChain(t: ExecutionContext, spec: string, tag: string, ready = (s: RegionSnapshot) => sent(s) > 100) {
  const prefix = uniquePrefix(tag)
  const chain = startXioChain(['run', spec, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, ready)
  t.truthy(o, chain.output())
  const stop = async () => {
    o!.close()
    chain.kill('SIGINT')
    const [code] = await once(chain, 'exit')
    t.is(code, 0, chain.output().slice(-3000))
  }
  return { prefix, chain, view: o!.view, stop }
}

test('fw and fwd in one group: one process per instance, one hop less, flows in order, configs live, a killed instance back', async (t) => {
  const { prefix, chain, view, stop } = await runChain(t, specA, 'group', (s) => active(s).filter((x) => x.name === 'fw').length === 2 && sent(s) > 100)
  const s = view.snapshot()
  t.is(active(s).filter((x) => x.name === 'fwd').length, 0, 'the forwarder has no process of its own')
  t.deepEqual(s.services.filter((x) => x.name === 'fw' || x.name === 'fwd').map((x) => x.instances), [2, 2], 'each group process is an instance of both')

  // Live configs for a member, twice, under traffic.
  for (const spec of [specB, specA]) {
    const before = sent(view.snapshot())
    const r = await xioChain(['reload', spec, '--prefix', prefix])
    t.is(r.code, 0, r.stderr)
    t.regex(r.stdout, /new config, live: fw/)
    t.true(await until(() => /^reload: new config, live: fw/m.test(chain.output()), 5000), 'the running chain says it too')
    t.true(await until(() => sent(view.snapshot()) > before + 200, 10_000))
  }

  // Each member's counters reach the dashboard and metrics as its own.
  const fwCounters = await until(() => {
    const text = JSON.stringify(active(view.snapshot()).map((x) => x.nf))
    return text.includes('"@fw/') && text.includes('"@fwd/')
  }, 5000)
  t.true(fwCounters, 'both members publish their counters from the group\'s slot')

  // top off a terminal names the group's row as run's lines do, from the spec the region records.
  const top = startXioChain(['top', '--prefix', prefix])
  t.teardown(() => top.kill('SIGKILL'))
  t.true(await until(() => /^edge\(fw\+fwd\)\s+rx/m.test(top.output()), 10_000), top.output())
  top.kill('SIGINT')

  // Numbered traffic to the end, then kill one group instance and check it comes back.
  const victim = active(view.snapshot()).find((x) => x.name === 'fw')!
  process.kill(victim.pid, 'SIGKILL')
  t.true(await until(() => active(view.snapshot()).filter((x) => x.name === 'fw' && x.pid !== victim.pid).length === 2, 10_000), 'the group instance restarted')
  t.true(chain.output().includes(`placement group 'edge' (fw+fwd) (pid ${victim.pid}) exited SIGKILL; restarting it`), chain.output().slice(-2000))
  const settled = view.snapshot()
  await stop()
  t.false(existsSync(`/dev/shm/xio.${prefix}`))

  // Every packet went gen → group → out: two passes through the manager, not three.
  const delivered = settled.manager.routed
  const generated = sent(settled)
  t.true(delivered <= 2 * generated + 64 && delivered >= 2 * generated - 2 * 256, `manager routed ${delivered} for ${generated} sent`)
  // Per flow, in order, except where the killed instance lost what it held.
  const { records } = await readPcap(join(dir, 'out.pcap'))
  const total = Number(/gen: \{"sent":(\d+)\}/.exec(chain.output())?.[1])
  const next = new Map<number, number>()
  let gaps = 0, backwards = 0
  for (const { data } of records) {
    const flow = data.readUInt32BE(14 + 16)
    const id = data.readUInt16BE(14 + 4)
    const want = next.get(flow) ?? 0
    if (id !== want) ((id - want) & 0xffff) < 0x8000 ? gaps++ : backwards++
    next.set(flow, (id + 1) & 0xffff)
  }
  t.log(`${total} sent, ${records.length} out; ${gaps} gaps from the kill; ${settled.manager.reclaimed} buffers reclaimed`)
  t.is(next.size, 32, 'every flow came through')
  t.is(backwards, 0, 'no flow reordered')
  t.true(total - records.length <= settled.manager.reclaimed, 'lost no more than the killed instance held')
})

test('a reload that puts an NF between two members restarts the group, and the packets then go through that NF; taking it out again restarts it back; neither loses a packet', async (t) => {
  const fwConfig = { default: 'drop', nonIp: 'drop', rules: [{ action: 'allow', proto: 'udp' }] }
  // Twelve seconds of traffic: the first reload (a new process for ids, the group's restarted)
  // must come while it flows, however slowly a loaded machine starts processes.
  const count = 48_000
  const edge = (links: string[], extra: object = {}) => ({
    endpoints: {
      gen: { kind: 'generator', flows: 8, rate: 4000, count },
      fw: { kind: 'firewall', group: 'edge', config: fwConfig },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/16' } },
      out: { kind: 'sink' },
      ...extra,
    },
    links,
  })
  const before = join(dir, 'between-before.json')
  const after = join(dir, 'between-after.json')
  writeFileSync(before, JSON.stringify(edge(['gen -> fw', 'fw -> nat', 'nat.outside -> out'])))
  writeFileSync(after, JSON.stringify(edge(['gen -> fw', 'fw -> ids', 'ids -> nat', 'nat.inside -> fw', 'nat.outside -> out'], { ids: { kind: 'firewall', config: fwConfig } })))
  const { chain, prefix, view, stop } = await runChain(t, before, 'group-between')
  const rx = (name: string) => active(view.snapshot()).filter((x) => x.name === name).reduce((n, x) => n + x.route.rxPackets, 0)
  const inserted = await xioChain(['reload', after, '--prefix', prefix])
  t.is(inserted.code, 0, inserted.stderr)
  t.regex(inserted.stdout, /started: ids/)
  t.regex(inserted.stdout, /^ +restarted: fw, nat \(the links between the members of placement group 'edge' changed\)$/m)
  // The group's new process calls no member across ids: everything fw passes reaches ids.
  t.true(await until(() => rx('ids') > 200, 10_000), `ids took ${rx('ids')}\n${chain.output().slice(-2000)}`)
  t.is(active(view.snapshot()).filter((x) => x.name === 'fw').length, 1, 'one group process')
  // Out again, while ids still holds packets on their way to nat.
  const removed = await xioChain(['reload', before, '--prefix', prefix])
  t.is(removed.code, 0, removed.stderr)
  t.regex(removed.stdout, /drained and stopped: ids/)
  // Both restarts held what was sent to the group meanwhile, and ids passed on what it had.
  t.true(await until(() => sent(view.snapshot()) === count && rx('out') === count, 30_000), `${sent(view.snapshot())} sent, ${rx('out')} out`)
  t.is(view.snapshot().manager.noRoute, 0, 'nothing was routed nowhere')
  await stop()
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test('a reload naming a CPU this machine lacks is refused before anything stops: the group runs on', async (t) => {
  const spec = (natCpu?: number[]) => ({
    endpoints: {
      gen: { kind: 'generator', flows: 8, rate: 4000 },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/16' }, ...(natCpu ? { cpu: natCpu } : {}) },
      out: { kind: 'sink' },
    },
    links: ['gen -> fw', 'fw -> nat', 'nat.outside -> out'],
  })
  const good = join(dir, 'cpu-good.json')
  const bad = join(dir, 'cpu-bad.json')
  writeFileSync(good, JSON.stringify(spec()))
  writeFileSync(bad, JSON.stringify(spec([99])))
  const { prefix, view, stop } = await runChain(t, good, 'group-cpu')
  const pid = active(view.snapshot()).find((x) => x.name === 'fw')!.pid
  const r = await xioChain(['reload', bad, '--prefix', prefix])
  t.is(r.code, 1)
  t.regex(r.stderr, /\/endpoints\/nat\/cpu: there is no CPU 99 here/)
  const out = () => active(view.snapshot()).find((x) => x.name === 'out')!.route.rxPackets
  const before = out()
  t.true(await until(() => out() > before + 200, 10_000), 'packets still go through the group')
  t.is(active(view.snapshot()).find((x) => x.name === 'fw')!.pid, pid, 'the same group process')
  await stop()
})
