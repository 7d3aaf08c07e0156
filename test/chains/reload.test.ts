// Hot reload, end to end: a running chain rewired, reconfigured, grown and shrunk twenty times
// by `xio-chain reload` while numbered traffic flows through it, then refused a bad spec and
// reloaded by SIGHUP. Every packet the generator sent must reach the capture at the end, each
// flow's in order, and the NAT must keep each flow's external port throughout.
import test from 'ava'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { RunningChain } from '../../src/chain/launcher.ts'
import { readPcap } from '../../src/chain/pcap.ts'
import { checkChain, loadChain } from '../../src/chain/spec.ts'
import { startXioChain, xioChain } from '../helpers/cli.ts'
import { observeWhen, removeLeftoverRegions, uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'
import type { RegionSnapshot } from '../../src/xio/index.ts'
import { observerSource } from '../../src/tui/sources.ts'

// A chain a failed test left to its teardown's SIGKILL leaves its region: remove this file's.
test.after.always(removeLeftoverRegions)

const dir = scratchDir('reload')
const activeSlots = (s: RegionSnapshot) => s.slots.filter((x) => x.state === 'active')
const sentBy = (s: RegionSnapshot, name: string) => activeSlots(s).find((x) => x.name === name)?.route.txPackets ?? 0
const receivedBy = (s: RegionSnapshot, name: string) => activeSlots(s).find((x) => x.name === name)?.route.rxPackets ?? 0
const output = join(dir, 'out.pcap')

// A: gen → fw → nat → out. B: another firewall rule, another NAT forward, and an l2fwd
// between the firewall and the NAT (started going to B, drained and stopped going back to A).
const fwRules = (extra: boolean) => [
  ...(extra ? [{ action: 'drop', proto: 'tcp', dstPort: 23, comment: 'no telnet' }] : []),
  { action: 'allow', proto: 'udp', comment: 'generated traffic' },
]
const specOf = (b: boolean) => ({
  endpoints: {
    gen: { kind: 'generator', flows: 16, rate: 4000, sequence: true },
    fw: { kind: 'firewall', config: { default: 'drop', nonIp: 'drop', rules: fwRules(b) } },
    ...(b ? { mid: { kind: 'l2fwd' } } : {}),
    nat: {
      kind: 'nat',
      config: { external: '203.0.113.1', inside: '10.0.0.0/16', ports: [20000, 29999], forwards: b ? [{ proto: 'tcp', port: 8080, to: '10.0.0.5:80' }] : [] },
    },
    out: { kind: 'pcap', output: 'out.pcap' },
  },
  links: b ? ['gen -> fw', 'fw -> mid', 'mid -> nat', 'nat.outside -> out'] : ['gen -> fw', 'fw -> nat', 'nat.outside -> out'],
})
const specA = join(dir, 'a.json')
const specB = join(dir, 'b.json')
writeFileSync(specA, JSON.stringify(specOf(false)))
writeFileSync(specB, JSON.stringify(specOf(true)))
const running = join(dir, 'running.json')  // the spec `run` was given, rewritten for SIGHUP
writeFileSync(running, JSON.stringify(specOf(false)))
const badField = join(dir, 'bad.json')
writeFileSync(badField, JSON.stringify({ ...specOf(false), endpoints: { ...specOf(false).endpoints, fw: { kind: 'firewall', config: { default: 'maybe' } } } }))
const newPool = join(dir, 'pool.json')
writeFileSync(newPool, JSON.stringify({ ...specOf(false), pool: { buffers: 4096 } }))

const active = (s: RegionSnapshot, name: string) => s.slots.some((x) => x.state === 'active' && x.name === name)
const sent = (s: RegionSnapshot) => sentBy(s, 'gen')

test('twenty reloads under numbered traffic lose no packet and reorder none; NAT mappings stay; a bad spec changes nothing; SIGHUP reloads', async (t) => {
  const prefix = uniquePrefix('reload')
  const chain = startXioChain(['run', running, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => active(s, 'gen') && sent(s) > 100)
  t.truthy(o, chain.output())
  const view = o!.view

  for (let i = 0; i < 20; i++) {
    const toB = i % 2 === 0
    const before = sent(view.snapshot())
    const r = await xioChain(['reload', toB ? specB : specA, '--prefix', prefix])
    t.is(r.code, 0, `reload ${i}: ${r.stderr}${chain.output().slice(-2000)}`)
    t.regex(r.stdout, toB ? /started: mid/ : /drained and stopped: mid/)
    t.regex(r.stdout, /new config, live: fw, nat/)
    t.is(active(view.snapshot(), 'mid'), toB, `after reload ${i}, mid is ${toB ? '' : 'not '}in the chain`)
    // Traffic moves between reloads, so each one meets packets in flight.
    t.true(await until(() => sent(view.snapshot()) > before + 200, 10_000), `traffic flows after reload ${i}`)
  }

  // A spec with a mistake, and one that would change the pool: refused, naming the field; the chain runs on.
  const bad = await xioChain(['reload', badField, '--prefix', prefix])
  t.is(bad.code, 1)
  t.regex(bad.stderr, /\/endpoints\/fw\/config\/default/)
  // Named relative to where reload ran, as it was given (the chain reads it by its absolute path).
  const pool = await xioChain(['reload', basename(newPool), '--prefix', prefix], 60_000, dir)
  t.is(pool.code, 1)
  t.regex(pool.stderr, /^pool\.json: \/pool: the pool settings are fixed while the chain runs/)
  const after = sent(view.snapshot())
  t.true(await until(() => sent(view.snapshot()) > after + 200, 10_000), 'the chain runs on')
  t.false(active(view.snapshot(), 'mid'))

  // SIGHUP: run reads its own spec file again.
  writeFileSync(running, JSON.stringify(specOf(true)))
  chain.kill('SIGHUP')
  t.true(await until(() => active(view.snapshot(), 'mid'), 20_000), `SIGHUP started mid: ${chain.output().slice(-2000)}`)
  t.true(await until(() => /reload: started: mid/.test(chain.output()), 5000))

  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'no region left')

  // What arrived: every number of every flow, once, in order.
  const total = Number(/gen: \{"sent":(\d+)\}/.exec(chain.output())?.[1])
  const { records } = await readPcap(output)
  t.is(records.length, total, 'the capture holds every packet the generator sent')
  const next = new Map<number, number>()
  const externalPort = new Map<number, number>()
  let outOfOrder = 0
  let portChanges = 0
  for (const { data } of records) {
    const flow = data.readUInt32BE(14 + 16)  // the destination: one per generated flow, kept by the NAT
    const id = data.readUInt16BE(14 + 4)
    if (id !== (next.get(flow) ?? 0)) outOfOrder++
    next.set(flow, (id + 1) & 0xffff)
    const port = data.readUInt16BE(14 + 20)
    if (externalPort.has(flow) && externalPort.get(flow) !== port) portChanges++
    externalPort.set(flow, port)
  }
  t.is(next.size, 16)
  t.is(outOfOrder, 0, 'no flow lost or reordered a packet')
  t.is(portChanges, 0, 'each flow kept its external port across the reloads')
  t.log(`${total} packets through 21 reloads, ${records.length} captured, every flow in order`)
})


test('a reload whose restarted NF fails to start: the reload says so, and once the launcher has it running again, packets reach it', async (t) => {
  // Its create() throws the first time it runs in an NF process (validation builds it too, in
  // the launcher, where it passes), then never again: the launcher's restart succeeds.
  const marker = join(dir, 'failed-once')
  writeFileSync(join(dir, 'fails-once.mjs'), [
    `import { existsSync, writeFileSync } from 'node:fs'`,
    `export default { name: 'fails-once', gates: ['out'], create() {`,
    `  if (process.argv[1].includes('nf-process') && !existsSync(${JSON.stringify(marker)})) { writeFileSync(${JSON.stringify(marker)}, ''); throw new Error('first start fails') }`,
    `  return { process: () => 0 } } }`,
  ].join('\n'))
  const spec = (x: object) => ({ endpoints: { gen: { kind: 'generator', flows: 8, rate: 4000 }, x, out: { kind: 'sink' } }, links: ['gen -> x', 'x -> out'] })
  const before = join(dir, 'fails-before.json')
  const after = join(dir, 'fails-after.json')
  writeFileSync(before, JSON.stringify(spec({ kind: 'l2fwd' })))
  writeFileSync(after, JSON.stringify(spec({ kind: 'nf', module: join(dir, 'fails-once.mjs') })))
  const prefix = uniquePrefix('reload-fails')
  const chain = startXioChain(['run', before, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => sentBy(s, 'gen') > 100)
  t.truthy(o, chain.output())
  const view = o!.view
  const r = await xioChain(['reload', after, '--prefix', prefix])
  t.is(r.code, 1)
  t.regex(r.stderr, /NF 'x' exited .* while starting:[\s\S]*first start fails/)
  const out = () => receivedBy(view.snapshot(), 'out')
  const was = out()
  t.true(await until(() => out() > was + 200, 10_000), `out took ${out() - was} since\n${chain.output().slice(-1500)}`)
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))
})

test('an NF module whose code changed, in its own file or a file it imports, is restarted by a reload on its new code; unchanged, it is kept', async (t) => {
  // JavaScript, which Node keeps by URL once imported: the launcher, which reads the module's
  // gates and schema, must see the new code too (version 3 adds a gate the spec links).
  const helper = join(dir, 'versioned-helper.mjs')
  const module = join(dir, 'versioned.mjs')
  const write = (version: number, gates: string[]) => {
    writeFileSync(helper, `export const version = ${version}\n`)
    writeFileSync(module, [
      `import { version } from './versioned-helper.mjs'`,
      `export default { name: 'versioned', gates: ${JSON.stringify(gates)}, create: () => ({ process: () => 0, counters: () => ({ codeVersion: version }) }) }`,
    ].join('\n'))
  }
  const specFile = join(dir, 'versioned.json')
  const writeSpec = (spare: boolean) => writeFileSync(specFile, JSON.stringify({
    endpoints: { gen: { kind: 'generator', flows: 8, rate: 4000 }, v: { kind: 'nf', module: './versioned.mjs' }, out: { kind: 'sink' }, ...(spare ? { spare: { kind: 'sink' } } : {}) },
    links: ['gen -> v', 'v.out -> out', ...(spare ? ['v.spare -> spare'] : [])],
  }))
  write(1, ['out'])
  writeSpec(false)
  const prefix = uniquePrefix('reload-code')
  const chain = startXioChain(['run', specFile, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const codeVersion = (s: RegionSnapshot) => activeSlots(s).find((x) => x.name === 'v')?.nf.codeVersion
  const o = await observeWhen(prefix, (s) => codeVersion(s) === 1 && receivedBy(s, 'out') > 100)
  t.truthy(o, chain.output())
  const view = o!.view
  const pid = () => activeSlots(view.snapshot()).find((x) => x.name === 'v')?.pid

  const same = await xioChain(['reload', specFile, '--prefix', prefix])
  t.is(same.code, 0, same.stderr)
  t.regex(same.stdout, /nothing to change/, 'the same code: kept')
  // Sent where no chain runs: one line, naming the prefixes that run here.
  const nowhere = await xioChain(['reload', specFile, '--prefix', `${prefix}-none`])
  t.is(nowhere.code, 1)
  t.regex(nowhere.stderr, new RegExp(`^xio-chain reload: no chain is running on prefix '${prefix}-none' \\(no xio-chain run listens for reloads there\\); running here: .*--prefix ${prefix}(,|\n)`))
  const first = pid()

  write(2, ['out'])  // the module's own file is as it was: only what it imports changed
  const helperChanged = await xioChain(['reload', specFile, '--prefix', prefix])
  t.is(helperChanged.code, 0, helperChanged.stderr)
  t.regex(helperChanged.stdout, /^ +restarted: v \(its module's code changed\)$/m)
  t.true(await until(() => codeVersion(view.snapshot()) === 2, 20_000), `version 2 runs: ${chain.output().slice(-1500)}`)
  t.not(pid(), first, 'a new process')

  write(3, ['out', 'spare'])
  writeSpec(true)
  const gateAdded = await xioChain(['reload', specFile, '--prefix', prefix])
  t.is(gateAdded.code, 0, gateAdded.stderr)
  t.regex(gateAdded.stdout, /started: spare/)
  t.true(await until(() => codeVersion(view.snapshot()) === 3, 20_000), `version 3 runs: ${chain.output().slice(-1500)}`)
  const out = () => receivedBy(view.snapshot(), 'out')
  const was = out()
  t.true(await until(() => out() > was + 200, 10_000), 'packets flow through the new code')

  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))
})

test('an NF restarted after a crash, its module edited meanwhile: new code that passes the spec\'s checks runs, said so; broken code is refused, said once, and runs once mended; the chain runs on', async (t) => {
  const module = join(dir, 'edited.mjs')
  const write = (version: number, schema: object = { type: 'object' }, broken = false) =>
    writeFileSync(module, `export default { name: 'edited', gates: ['out'], config: ${JSON.stringify(schema)}, create: () => ({ process: () => 0, counters: () => ({ codeVersion: ${version} }) }) }${broken ? ' +' : ''}\n`)
  const specFile = join(dir, 'edited.json')
  writeFileSync(specFile, JSON.stringify({
    endpoints: { gen: { kind: 'generator', flows: 8, rate: 4000 }, v: { kind: 'nf', module: './edited.mjs', config: { limit: 1 } }, out: { kind: 'sink' } },
    links: ['gen -> v', 'v -> out'],
  }))
  write(1)
  const prefix = uniquePrefix('reload-edited')
  const chain = startXioChain(['run', specFile, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const slotOfV = (s: RegionSnapshot) => activeSlots(s).find((x) => x.name === 'v')
  const o = await observeWhen(prefix, (s) => slotOfV(s)?.nf.codeVersion === 1)
  t.truthy(o, chain.output())
  const view = o!.view
  const killV = () => process.kill(slotOfV(view.snapshot())!.pid, 'SIGKILL')
  const runs = (version: number) => until(() => slotOfV(view.snapshot())?.nf.codeVersion === version, 20_000)

  write(2)
  killV()
  t.true(await runs(2), `the replacement runs the edited code: ${chain.output().slice(-1500)}`)
  // Said before the new process started, but read here from a pipe, maybe after the region showed it running.
  const says = (line: RegExp) => until(() => line.test(chain.output()), 10_000)
  t.true(await says(/NF 'v': its module's code changed since the chain checked it; restarting it on the new code/), chain.output().slice(-1500))

  // Code that does not load, then code whose schema refuses the spec's config: neither runs.
  write(3, { type: 'object' }, true)
  killV()
  t.true(await until(() => /NF 'v': its module's code changed since the chain checked it, and is refused: \/endpoints\/v\/module: .*edited\.mjs failed to load/.test(chain.output()), 20_000), chain.output().slice(-1500))
  write(4, { type: 'object', required: ['rate'] })
  t.true(await until(() => /is refused: \/endpoints\/v\/config\/rate: is required/.test(chain.output()), 20_000), chain.output().slice(-1500))
  t.is(slotOfV(view.snapshot()), undefined, 'v is down meanwhile')
  t.is(chain.exitCode, null, 'the chain runs on')
  t.is(chain.output().match(/failed to load/g)?.length, 1, 'each refusal said once')
  const printed = chain.output().length
  t.true(await until(() => /^v +down: no instance running, 2 deaths so far(, \d+ packets? lost with them)?  total rx \d+/m.test(chain.output().slice(printed)), 10_000),
    `the stats lines show it down, not gone: ${chain.output().slice(-1500)}`)

  // Put back as the chain checked it: it runs again, and says so.
  write(1)
  t.true(await runs(1), `mended, it runs again: ${chain.output().slice(-1500)}`)
  t.true(await says(/NF 'v': its module's code is back to what the chain checked; restarting it/), chain.output().slice(-1500))
  const out = () => receivedBy(view.snapshot(), 'out')
  const was = out()
  t.true(await until(() => out() > was + 200, 10_000), 'packets flow through it again')
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))
})

test('a config an NF refused is given again by the next reload of the same spec, once the cause is mended', async (t) => {
  // Its create() refuses a dropping config in an NF process until the marker file exists
  // (validation builds it too, in the launcher, where it passes): what validate cannot see.
  const marker = join(dir, 'may-drop')
  writeFileSync(join(dir, 'picky.mjs'), [
    `import { existsSync } from 'node:fs'`,
    `export default { name: 'picky', gates: ['out'], create(config) {`,
    `  if (config.drop && process.argv[1].includes('nf-process') && !existsSync(${JSON.stringify(marker)})) throw new Error('no ${marker} yet')`,
    `  return { process: () => (config.drop ? -1 : 0) } } }`,
  ].join('\n'))
  const spec = (drop: boolean, cpu?: number[]) => ({
    endpoints: { gen: { kind: 'generator', flows: 8, rate: 4000 }, x: { kind: 'nf', module: join(dir, 'picky.mjs'), config: { drop }, ...(cpu ? { cpu } : {}) }, out: { kind: 'sink' } },
    links: ['gen -> x', 'x -> out'],
  })
  const passing = join(dir, 'picky-pass.json')
  const dropping = join(dir, 'picky-drop.json')
  const elsewhere = join(dir, 'picky-absent-cpu.json')
  writeFileSync(passing, JSON.stringify(spec(false)))
  writeFileSync(dropping, JSON.stringify(spec(true)))
  writeFileSync(elsewhere, JSON.stringify(spec(true, [99])))
  const prefix = uniquePrefix('reload-retry')
  const chain = startXioChain(['run', passing, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => sentBy(s, 'gen') > 100)
  t.truthy(o, chain.output())
  const view = o!.view
  const out = () => receivedBy(view.snapshot(), 'out')
  const gen = () => sentBy(view.snapshot(), 'gen')

  const refused = await xioChain(['reload', dropping, '--prefix', prefix])
  t.is(refused.code, 1)
  t.regex(refused.stderr, /\/endpoints\/x\/config: instance 0 kept its old config: .*may-drop yet/)
  const was = out()
  t.true(await until(() => out() > was + 200, 10_000), 'x runs on as it was: packets still pass')
  // A reload refused before it changes anything (x restarted on a CPU there is not) leaves x owed its config.
  const nowhere = await xioChain(['reload', elsewhere, '--prefix', prefix])
  t.is(nowhere.code, 1)
  t.regex(nowhere.stderr, /\/endpoints\/x\/cpu: there is no CPU 99/)

  // The cause mended, the same spec again: x is given its config again, and takes it.
  writeFileSync(marker, '')
  const retried = await xioChain(['reload', dropping, '--prefix', prefix])
  t.is(retried.code, 0, retried.stderr)
  t.regex(retried.stdout, /new config, live: x/)
  const passed = out()
  const sentThen = gen()
  t.true(await until(() => gen() > sentThen + 500, 10_000), 'the generator sends on')
  t.true(out() - passed <= 20, `x drops now: ${out() - passed} of ${gen() - sentThen} packets sent since reached out`)

  // Taken: the same spec once more changes nothing.
  const again = await xioChain(['reload', dropping, '--prefix', prefix])
  t.is(again.code, 0, again.stderr)
  t.regex(again.stdout, /nothing to change/)
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))
})

test('an NF shrunk to one instance and grown back, again and again under numbered traffic, loses no packet and reorders none', async (t) => {
  const spec = (instances: number) => ({
    endpoints: {
      gen: { kind: 'generator', flows: 16, rate: 20_000, sequence: true },
      fwd: { kind: 'l2fwd', instances },
      out: { kind: 'pcap', output: 'scaled.pcap' },
    },
    links: ['gen -> fwd', 'fwd -> out'],
  })
  const two = join(dir, 'scale-two.json')
  const one = join(dir, 'scale-one.json')
  writeFileSync(two, JSON.stringify(spec(2)))
  writeFileSync(one, JSON.stringify(spec(1)))
  const prefix = uniquePrefix('reload-scale')
  const chain = startXioChain(['run', two, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const instances = (s: RegionSnapshot) => activeSlots(s).filter((x) => x.name === 'fwd').length
  const o = await observeWhen(prefix, (s) => instances(s) === 2 && sentBy(s, 'gen') > 1000)
  t.truthy(o, chain.output())
  const view = o!.view
  for (let i = 0; i < 10; i++) {
    const shrink = i % 2 === 0
    const r = await xioChain(['reload', shrink ? one : two, '--prefix', prefix])
    t.is(r.code, 0, `reload ${i}: ${r.stderr}${chain.output().slice(-2000)}`)
    t.true(await until(() => instances(view.snapshot()) === (shrink ? 1 : 2), 10_000), `reload ${i}: ${instances(view.snapshot())} instances`)
    // Traffic moves between reloads, so each one meets packets in flight (at 20,000 a second, some on each instance's ring).
    const before = sentBy(view.snapshot(), 'gen')
    t.true(await until(() => sentBy(view.snapshot(), 'gen') > before + 2000, 10_000), `traffic flows after reload ${i}`)
  }
  o!.close()
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output().slice(-3000))

  const total = Number(/gen: \{"sent":(\d+)\}/.exec(chain.output())?.[1])
  const { records } = await readPcap(join(dir, 'scaled.pcap'))
  t.is(records.length, total, 'the capture holds every packet the generator sent')
  const next = new Map<number, number>()
  let outOfOrder = 0
  for (const { data } of records) {
    const flow = data.readUInt32BE(14 + 16)
    const id = data.readUInt16BE(14 + 4)
    if (id !== (next.get(flow) ?? 0)) outOfOrder++
    next.set(flow, (id + 1) & 0xffff)
  }
  t.is(next.size, 16)
  t.is(outOfOrder, 0, 'no flow lost or reordered a packet')
})

test('a config change sent while an instance waits to be restarted is in force at once: that one restarts on it, the others take it live', async (t) => {
  const spec = (port: number) => checkChain(join(dir, 'restarting.json'), {
    name: 'restarting',
    endpoints: {
      gen: { kind: 'generator', rate: 2000, flows: 8 },
      fw: { kind: 'firewall', instances: 2, config: { default: 'allow', rules: [{ action: 'drop', proto: 'tcp', dstPort: port }] } },
      out: { kind: 'sink' },
    },
    links: ['gen -> fw', 'fw -> out'],
  })
  const running = await RunningChain.start(spec(23), { prefix: uniquePrefix('reload-restarting') })
  t.teardown(() => running.stop())
  const exits: unknown[] = []
  running.on('nf-exit', (e) => exits.push(e))
  void running.pump()
  const victim = running.instances.find((p) => p.instance === 0)!
  const exited = once(running, 'nf-exit')
  victim.child.kill('SIGKILL')
  await exited
  // The launcher waits 200 ms before it restarts the instance: the reload comes meanwhile.
  t.is(victim.child.signalCode, 'SIGKILL')
  const plan = await running.reload(spec(25))
  t.deepEqual(plan.reconfigured, ['fw'])
  // A restart loads its modules again: under a full test run's load that took over 10 s once.
  // Running: started and not gone (the killed one, gone by a signal, has no exit code either).
  const runs = (p: (typeof running.instances)[number]) => p.members.includes('fw') && p.ready && p.child.exitCode === null && p.child.signalCode === null
  const bothRun = await until(() => running.instances.filter(runs).length === 2 && !running.instances.includes(victim), 20_000)
  // What would tell a slow start from a restart that never came.
  if (!bothRun) {
    t.log(running.instances.map((p) => ({ endpoint: p.endpoint, instance: p.instance, pid: p.child.pid, ready: p.ready, code: p.child.exitCode, signal: p.child.signalCode, exits: p.exits.length, stderr: p.stderr })))
    t.log(exits, running.manager.snapshot().slots.filter((s) => s.name === 'fw'))
  }
  t.true(bothRun, 'both instances run')
})

test('a port a reload restarts goes on writing its capture after what it wrote before: nothing written is lost, nothing reordered', async (t) => {
  // The output port's speed means nothing to it, but changing it restarts the port.
  const spec = (speed: 'top' | number) => checkChain(join(dir, 'restarted-output.json'), {
    name: 'restarted-output',
    endpoints: {
      gen: { kind: 'generator', rate: 2000, count: 3000, flows: 4, sequence: true },
      fwd: { kind: 'l2fwd' },
      out: { kind: 'pcap', output: 'restarted-output.pcap', speed },
    },
    links: ['gen -> fwd', 'fwd -> out'],
  })
  const running = await RunningChain.start(spec('top'), { prefix: uniquePrefix('reload-output') })
  let stopped = false
  t.teardown(() => (stopped ? undefined : running.stop()))
  void running.pump()
  const written = () => running.ports.get('out')?.output?.written ?? 0
  t.true(await until(() => written() >= 1000, 20_000), 'written before the reload')
  const plan = await running.reload(spec(1000))
  t.deepEqual(plan.replaced, ['out'])
  t.true(await until(() => written() === 3000, 20_000), `written in all: ${written()}`)
  await running.stop()
  stopped = true
  const records = (await readPcap(join(dir, 'restarted-output.pcap'))).records
  t.is(records.length, 3000)
  // Each flow's frames, numbered by the generator (IPv4 id), from 0, in order, none missing.
  const next = new Map<number, number>()
  let outOfOrder = 0
  for (const { data } of records) {
    const flow = data.readUInt32BE(14 + 16)  // the destination: one per generated flow
    const id = data.readUInt16BE(14 + 4)
    if (id !== (next.get(flow) ?? 0)) outOfOrder++
    next.set(flow, id + 1)
  }
  t.is(next.size, 4)
  t.is(outOfOrder, 0)
})

test('a stop that comes while a reload is under way waits for it: the reload completes, then the chain stops and removes its region', async (t) => {
  const spec = (withMid: boolean) => checkChain(join(dir, 'stop-mid-reload.json'), {
    name: 'stop-mid-reload',
    endpoints: { gen: { kind: 'generator', rate: 2000, flows: 8 }, fw: { kind: 'firewall', config: { default: 'allow' } }, ...(withMid ? { mid: { kind: 'l2fwd' } } : {}), out: { kind: 'sink' } },
    links: withMid ? ['gen -> fw', 'fw -> mid', 'mid -> out'] : ['gen -> fw', 'fw -> out'],
  })
  const running = await RunningChain.start(spec(false), { prefix: uniquePrefix('reload-stop') })
  const pumping = running.pump()
  // The reload starts an NF process, which takes a while to load; the stop comes once that has
  // begun, as a Ctrl-C right after a SIGHUP.
  const reloaded = running.reload(spec(true))
  t.true(await until(() => running.instances.some((p) => p.members.includes('mid')), 10_000))
  const stopped = running.stop()
  const plan = await reloaded
  t.deepEqual(plan.added, ['mid'])
  await stopped
  await pumping
  t.false(existsSync(`/dev/shm/xio.${running.prefix}`), 'no region left')
  await t.throwsAsync(running.reload(spec(false)), { message: /stopping/ }, 'a reload after the stop is refused')
})

test('a reload whose new port cannot be made (an output it cannot write) fails naming the file, and leaves no slot taken', async (t) => {
  const spec = (extra: boolean) => checkChain(join(dir, 'bad-port.json'), {
    name: 'bad-port',
    endpoints: {
      gen: { kind: 'generator', rate: 1000, flows: 2 },
      fwd: { kind: 'l2fwd' },
      ...(extra ? { tap: { kind: 'pcap', output: '/etc/hostname/tap.pcap' } } : { out: { kind: 'sink' } }),
    },
    links: ['gen -> fwd', `fwd -> ${extra ? 'tap' : 'out'}`],
  })
  const running = await RunningChain.start(spec(false), { prefix: uniquePrefix('reload-bad-port') })
  t.teardown(() => running.stop())
  void running.pump()
  await t.throwsAsync(running.reload(spec(true)), { message: /\/etc\/hostname\/tap\.pcap/ })
  t.is(running.manager.snapshot().slots.filter((s) => s.state === 'active' && s.name === 'tap').length, 0)
})

test('a slow NF taken out of the path passes on the burst it is still deciding before the shortcut opens: no flow reordered', async (t) => {
  // 2 ms a packet against 1,000 offered a second: a backlog builds, and a burst takes it up to
  // a quarter of a second to decide, all sent at the burst's end.
  const slowFile = join(dir, 'slow.mjs')
  writeFileSync(slowFile, `export default { name: 'slow', gates: ['out'], create: () => ({ process() { for (const end = performance.now() + 2; performance.now() < end;); return 0 } }) }\n`)
  const spec = async (withSlow: boolean) => {
    const file = join(dir, `slow-${withSlow}.json`)
    writeFileSync(file, JSON.stringify({
    name: 'slow-out',
    endpoints: {
      gen: { kind: 'generator', flows: 8, rate: 1000, sequence: true },
      ...(withSlow ? { slow: { kind: 'nf', module: slowFile } } : {}),
      fwd: { kind: 'l2fwd' },
      out: { kind: 'pcap', output: 'slow-out.pcap' },
    },
    links: withSlow ? ['gen -> slow', 'slow -> fwd', 'fwd -> out'] : ['gen -> fwd', 'fwd -> out'],
    }))
    return loadChain(file)
  }
  const chain = await RunningChain.start(await spec(true), { prefix: uniquePrefix('reload-slow') })
  let stopped = false
  t.teardown(() => (stopped ? undefined : chain.stop()))
  void chain.pump()
  const sent = () => sentBy(chain.manager.snapshot(), 'gen')
  // Out and in again, twice, each once a backlog has built up before it.
  for (let round = 0; round < 2; round++) {
    const before = sent()
    t.true(await until(() => sent() > before + 600, 20_000))
    await chain.reload(await spec(false))
    const between = sent()
    t.true(await until(() => sent() > between + 400, 20_000))
    await chain.reload(await spec(true))
  }
  // Stopped, the chain drains: every packet the generator made reaches the capture.
  await chain.stop()
  stopped = true
  const made = (chain.ports.get('gen')!.stats() as { sent: number }).sent
  const { records } = await readPcap(join(dir, 'slow-out.pcap'))
  const next = new Map<number, number>()
  let backwards = 0  // with every packet through, any id out of turn is one reordered
  for (const { data } of records) {
    const flow = data.readUInt32BE(14 + 16)
    const id = data.readUInt16BE(14 + 4)
    if (next.has(flow) && id !== next.get(flow)) backwards++
    next.set(flow, (id + 1) & 0xffff)
  }
  t.is(records.length, made)
  t.is(backwards, 0, 'every flow in order')
})

test('observers follow reloads: a spec given to reload is the one stats, metrics and top read names from, with endpoints added and removed', async (t) => {
  const file = (name: string, withL2: boolean) => {
    const path = join(dir, name)
    writeFileSync(path, JSON.stringify({
      name: 'observed',
      endpoints: {
        gen: { kind: 'generator', rate: 500, flows: 4 },
        fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
        nat: { kind: 'nat', group: 'edge', config: { external: '203.0.113.1', inside: '10.0.0.0/8' } },
        ...(withL2 ? { l2: { kind: 'l2fwd' } } : {}),
        out: { kind: 'sink' },
      },
      links: ['gen -> fw', 'fw -> nat', withL2 ? 'nat.outside -> l2' : 'nat.outside -> out', ...(withL2 ? ['l2 -> out'] : []), 'nat.inside -> gen'],
    }))
    return path
  }
  const plain = file('observed.json', false)
  const withL2 = file('observed-l2.json', true)
  const prefix = uniquePrefix('reload-observed')
  const chain = startXioChain(['run', plain, '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  const o = await observeWhen(prefix, (s) => receivedBy(s, 'out') > 0)
  t.truthy(o, chain.output())
  const top = await observerSource(o!)
  t.false(top.topology().endpoints.some((e) => e.name === 'l2'))
  const groupLabelled = async () => (await xioChain(['stats', '--prefix', prefix])).stdout.includes('group="edge"')
  t.true(await groupLabelled(), 'before any reload')
  // The NAT's counters, as the group's process publishes them (twice a second).
  const nat = (name: string) => activeSlots(o!.view.snapshot()).filter((x) => x.name === 'fw').reduce((n, x) => n + (x.nf[`@nat/${name}`] ?? 0), 0)
  for (const [spec, l2] of [[withL2, true], [plain, false]] as const) {
    const translated = nat('translatedOut')
    const r = await xioChain(['reload', spec, '--prefix', prefix])
    t.is(r.code, 0, r.stderr)
    // Only where the NAT's outside gate leads changed: it is told so, not built again, so its
    // counters go on (a NAT built again resumes its sessions from its state, and counts anew).
    t.true(await until(() => nat('translatedOut') > translated, 10_000))
    t.is(nat('sessionsResumed'), 0, 'the NAT was not built again')
    t.is(o!.view.chainFile(), spec, 'the region records the spec in force')
    t.true(await groupLabelled(), `stats after the reload to ${spec}`)
    // The dashboard draws the chain again, with l2 or without, as it runs now (its refreshes read the region).
    t.true(await until(() => (top.read(), top.topology().endpoints.some((e) => e.name === 'l2') === l2), 5_000), JSON.stringify(top.topology().endpoints))
    t.true(top.topology().fromSpec)
    const traced = await xioChain(['capture', '--prefix', prefix, '--at', l2 ? 'l2.out' : 'nat.outside', '-c', '1', '-w', join(dir, 'observed.pcap')], 30_000)
    t.is(traced.code, 0, traced.stderr)
  }
  o!.close()
  chain.kill('SIGINT')
  await once(chain, 'exit')
})
