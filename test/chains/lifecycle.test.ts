// The launcher's promises: Ctrl-C (or SIGTERM) leaves no process and no region behind, an NF
// that dies is restarted and the chain goes on, and an NF that cannot start stops the chain
// with its reason.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Manager, observe, type Observer } from '../../src/xio/index.ts'
import { bin, root, startXioChain, xioChain } from '../helpers/cli.ts'
import { uniquePrefix, until } from '../helpers/processes.ts'
import { scratchDir } from '../helpers/scratch.ts'

/** Running (or runnable): a process that exited is gone, even while a zombie awaiting its reaper. */
const alive = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z'
  } catch {
    return false
  }
}

async function watch(prefix: string): Promise<Observer> {
  let observer: Observer | undefined
  await until(() => {
    try {
      observer = observe(prefix)
      return true
    } catch {
      return false
    }
  }, 20_000, 50)
  if (!observer) throw new Error(`no region for ${prefix}`)
  return observer
}

/** Pids of the NF processes of the chain on `prefix` (their command lines name it). */
function nfProcessesOf(prefix: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      return args.includes(prefix) && args.some((a) => a.endsWith('nf-process.ts') || a.endsWith('nf-process.js')) && alive(pid)
    } catch {
      return false
    }
  })
}

/**
 * `run` of generator → an NF of `name` (its process() written out in `process`) → sink, from a
 * scratch folder, killed when the test ends: the chain's prefix and process.
 */
function runThrough(t: ExecutionContext, name: string, process: string, generator: object) {
  const dir = scratchDir('life')
  writeFileSync(join(dir, `${name}.mjs`), `export default { name: '${name}', gates: ['out'], create: () => ({ ${process} }) }\n`)
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({
    endpoints: { gen: { kind: 'generator', ...generator }, [name]: { kind: 'nf', module: join(dir, `${name}.mjs`) }, out: { kind: 'sink' } },
    links: [`gen -> ${name}`, `${name} -> out`],
  }))
  const prefix = uniquePrefix(name)
  const chain = startXioChain(['run', join(dir, `${name}.json`), '--no-tui', '--prefix', prefix])
  t.teardown(() => chain.kill('SIGKILL'))
  return { prefix, chain }
}

const nfSlots = (o: Observer, name: string) => o.view.snapshot().slots.filter((s) => s.state === 'active' && s.name === name)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test.serial(`run, then ${signal}: every NF process exits and the region is removed`, async (t) => {
    const prefix = uniquePrefix('life')
    const cli = startXioChain(['run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix])
    const o = await watch(prefix)
    t.true(await until(() => nfSlots(o, 'fw').length === 1 && nfSlots(o, 'nat').length === 1, 20_000))
    t.true(await until(() => (nfSlots(o, 'nat')[0]?.route.rxPackets ?? 0) > 0, 10_000), 'traffic flows')
    const pids = [...nfSlots(o, 'fw'), ...nfSlots(o, 'nat')].map((s) => s.pid)
    t.true(pids.every((pid) => pid > 0), `NF pids ${pids}: ${cli.output()}`)
    o.close()
    cli.kill(signal)
    const [code] = await once(cli, 'exit')
    t.is(code, 0, cli.output())
    for (const pid of pids) t.false(alive(pid), `NF process ${pid} is gone`)
    t.false(existsSync(`/dev/shm/xio.${prefix}`))
    t.true(existsSync(join(root, 'out/fw-nat/wan.pcap')), 'outputs were flushed')
  })
}

test.serial('Ctrl-C at the terminal while the NFs still load (the whole process group signalled) stops the chain cleanly, exit 0', async (t) => {
  const prefix = uniquePrefix('ctrl-c')
  // A process group of its own, as a shell gives a command: the terminal's Ctrl-C goes to all of it.
  const cli = spawn(process.execPath, [bin, 'run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  for (const stream of [cli.stdout, cli.stderr]) stream.on('data', (c: Buffer) => (output += c))
  t.teardown(() => cli.kill('SIGKILL'))
  // The moment both NF processes (fw, nat) run, long before their modules are loaded and they
  // say ready. Not sooner: a process the launcher is still forking is in its group until the
  // child makes its own session, microseconds later, and would take the signal with it.
  t.true(await until(() => nfProcessesOf(prefix).length === 2, 20_000, 5), output)
  process.kill(-cli.pid!, 'SIGINT')
  const [code] = await once(cli, 'exit')
  t.is(code, 0, output)
  t.false(/exited|while starting/.test(output), output)
  t.true(await until(() => nfProcessesOf(prefix).length === 0, 10_000), 'no NF process left')
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('an NF killed mid-run is reported and restarted, and the chain goes on', async (t) => {
  const prefix = uniquePrefix('restart')
  const cli = startXioChain(['run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix])
  const o = await watch(prefix)
  t.true(await until(() => (nfSlots(o, 'fw')[0]?.route.rxPackets ?? 0) > 0, 20_000), 'the chain is running')
  const victim = nfSlots(o, 'fw')[0].pid
  process.kill(victim, 'SIGKILL')
  t.true(await until(() => nfSlots(o, 'fw').some((s) => s.pid !== victim), 20_000), `a new fw instance attached: ${cli.output()}`)
  t.true(await until(() => (nfSlots(o, 'fw')[0]?.route.rxPackets ?? 0) > 0, 10_000), 'the new instance gets traffic')
  t.is(o.view.snapshot().services.find((s) => s.name === 'fw')!.deaths, 1)
  o.close()
  t.regex(cli.output(), new RegExp(`NF 'fw' \\(pid ${victim}\\) exited SIGKILL; restarting it`))
  cli.kill('SIGINT')
  const [code] = await once(cli, 'exit')
  t.is(code, 0)
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('an NF that keeps dying is left down after --max-restarts in a minute, saying so; the rest of the chain runs on, and a reload starts it again', async (t) => {
  // Two paths: web through fw, dns through a forwarder of its own.
  const spec = join(scratchDir('life'), 'two-paths.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      web: { kind: 'generator', rate: 500, flows: 8 }, fw: { kind: 'firewall', config: { default: 'allow' } }, webOut: { kind: 'sink' },
      dns: { kind: 'generator', rate: 500, flows: 8, proto: 'udp', dstPort: 53 }, fwd: { kind: 'l2fwd' }, dnsOut: { kind: 'sink' },
    },
    links: ['web -> fw', 'fw -> webOut', 'dns -> fwd', 'fwd -> dnsOut'],
  }))
  const prefix = uniquePrefix('crashloop')
  const cli = startXioChain(['run', spec, '--no-tui', '--prefix', prefix, '--max-restarts', '1'])
  t.teardown(() => cli.kill('SIGKILL'))
  const o = await watch(prefix)
  const received = (name: string) => o.view.snapshot().slots.filter((x) => x.state === 'active' && x.name === name).reduce((n, x) => n + x.route.rxPackets, 0)
  for (let kill = 0; kill < 2; kill++) {
    t.true(await until(() => (nfSlots(o, 'fw')[0]?.route.rxPackets ?? 0) > 0, 20_000), `fw running before kill ${kill + 1}`)
    process.kill(nfSlots(o, 'fw')[0].pid, 'SIGKILL')
    t.true(await until(() => nfSlots(o, 'fw').length === 0, 5000))
  }
  t.true(await until(() => /NF 'fw' exited 2 times in 60 s \(last: SIGKILL\); left down, the rest of the chain runs on/.test(cli.output()), 10_000), cli.output())
  const dns = received('dnsOut')
  t.true(await until(() => received('dnsOut') > dns + 200, 10_000), 'the other path carries on')
  t.is(nfSlots(o, 'fw').length, 0, 'fw stays down')
  t.is(cli.exitCode, null, 'the chain runs on')
  // The same spec, once the cause is mended: fw runs again.
  const reload = await xioChain(['reload', spec, '--prefix', prefix])
  t.is(reload.code, 0, reload.stderr)
  t.regex(reload.stdout, /restarted: fw \(it was left down after repeated exits\)/)
  const web = received('webOut')
  t.true(await until(() => received('webOut') > web + 200, 20_000), 'web passes through fw again')
  o.close()
  cli.kill('SIGINT')
  const [code] = await once(cli, 'close')
  t.is(code, 0, cli.output())
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('an NF config the NF refuses (what a schema cannot say) stops run before anything starts, naming the field', async (t) => {
  const dir = scratchDir('life')
  const spec = {
    endpoints: {
      in: { kind: 'pcap', input: join(root, 'pcaps/lan.pcap') },
      nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.1/24' } },
      out: { kind: 'sink' },
    },
    links: ['in -> nat', 'nat.outside -> out', 'nat.inside -> out'],
  }
  writeFileSync(join(dir, 'bad-nat.json'), JSON.stringify(spec))
  const prefix = uniquePrefix('badnf')
  const r = await xioChain(['run', join(dir, 'bad-nat.json'), '--no-tui', '--prefix', prefix, '--duration', '5'])
  t.is(r.code, 1)
  t.regex(r.stderr, /bad-nat\.json: \/endpoints\/nat\/config\/inside: .*host bits/)
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('packets an NF keeps as the chain stops are dropped, and the warning says who kept them', async (t) => {
  // Keeps every packet it is given (HOLD), for ever.
  const { prefix, chain } = runThrough(t, 'keeper', 'process: () => -2', { count: 20 })
  const kept = async () => {
    const o = observe(prefix)
    try {
      return o.view.snapshot().slots.find((s) => s.state === 'active' && s.name === 'keeper')?.route.rxPackets ?? 0
    } finally {
      o.close()
    }
  }
  t.true(await until(async () => (await kept().catch(() => 0)) === 20, 30_000), chain.output())
  chain.kill('SIGINT')
  const [code] = await once(chain, 'exit')
  t.is(code, 0, chain.output())
  t.regex(chain.output(), /20 buffers were still in use after 2 s \(packets in flight, or kept by an NF: keeper 20\); they are dropped/)
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('a capture in a format pcap-parser cannot read is refused with what to do', async (t) => {
  const dir = scratchDir('life')
  const pcapng = Buffer.alloc(64)
  pcapng.writeUInt32BE(0x0a0d0d0a, 0)
  writeFileSync(join(dir, 'capture.pcapng'), pcapng)
  const r = await xioChain(['replay', 'chains/l2fwd.json', '--input', `in=${join(dir, 'capture.pcapng')}`, '--prefix', uniquePrefix('pcapng')])
  t.is(r.code, 1)
  t.regex(r.stderr, /capture\.pcapng: pcapng is not supported; convert it: tshark -F pcap/)
})

test.serial('run | head: the reader going away stops the chain cleanly, leaving no process and no region', async (t) => {
  const prefix = uniquePrefix('epipe')
  const cli = startXioChain(['run', 'chains/l2fwd.json', '--no-tui', '--prefix', prefix])
  const o = await watch(prefix)
  t.true(await until(() => nfSlots(o, 'fwd').length === 1, 20_000))
  const pids = nfSlots(o, 'fwd').map((s) => s.pid)
  o.close()
  t.true(await until(() => cli.output().includes('-- 1s'), 20_000), 'stats lines flow')
  cli.stdout!.destroy() // as head does once it has its lines
  const [code] = await once(cli, 'exit')
  t.is(code, 0, cli.output())
  for (const pid of pids) t.false(alive(pid), `NF process ${pid} is gone`)
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('run 2>&1 >file | head: the reader of its warnings going away stops the chain cleanly too, exit 0, no region left', async (t) => {
  // Throws on every packet: the launcher passes the NF's warning on, once a second.
  const { prefix, chain: cli } = runThrough(t, 'thrower', "process() { throw new Error('no') }", { rate: 100 })
  t.true(await until(() => /processThrew|Error: no/.test(cli.output()), 20_000), cli.output())
  cli.stderr!.destroy() // the next warning finds no reader
  const [code] = await once(cli, 'exit')
  t.is(code, 0, cli.output())
  t.deepEqual(nfProcessesOf(prefix), [])
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('kill -9 of the launcher: its NF processes leave within a second, and the next run on the prefix takes the stale region over', async (t) => {
  const prefix = uniquePrefix('orphans')
  const first = startXioChain(['run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix])
  const o = await watch(prefix)
  t.true(await until(() => nfSlots(o, 'fw').length === 1 && nfSlots(o, 'nat').length === 1, 20_000), first.output())
  const pids = [...nfSlots(o, 'fw'), ...nfSlots(o, 'nat')].map((s) => s.pid)
  o.close()
  first.kill('SIGKILL')
  await once(first, 'exit')
  const killed = performance.now()
  // The NFs notice the manager's lease go (the kernel drops it with the process) between bursts.
  t.true(await until(() => pids.every((pid) => !alive(pid)), 1000, 5), `NF processes ${pids.filter(alive)} still alive a second after the launcher died`)
  t.log(`NF processes gone ${(performance.now() - killed).toFixed(0)} ms after the launcher`)
  const second = startXioChain(['run', 'chains/fw-nat.json', '--no-tui', '--prefix', prefix])
  t.teardown(() => second.kill('SIGKILL'))
  const o2 = await watch(prefix)
  t.true(await until(() => (nfSlots(o2, 'nat')[0]?.route.rxPackets ?? 0) > 0, 20_000), `the second run carries traffic: ${second.output()}`)
  o2.close()
  second.kill('SIGINT')
  const [code] = await once(second, 'exit')
  t.is(code, 0, second.output())
  t.false(existsSync(`/dev/shm/xio.${prefix}`))
})

test.serial('xio-chain clean removes what a kill -9 of run left, and leaves a running chain alone', async (t) => {
  const killed = uniquePrefix('killed')
  const cli = startXioChain(['run', 'chains/l2fwd.json', '--no-tui', '--prefix', killed])
  const o = await watch(killed)
  t.true(await until(() => nfSlots(o, 'fwd').length === 1, 20_000))
  const pids = nfSlots(o, 'fwd').map((s) => s.pid)
  o.close()
  cli.kill('SIGKILL')
  await once(cli, 'exit')
  t.true(existsSync(`/dev/shm/xio.${killed}`), 'a kill -9 leaves the region')
  t.true(await until(() => pids.every((pid) => !alive(pid)), 5000), 'its NF processes leave by themselves')
  const live = Manager.create({ prefix: uniquePrefix('alive'), buffers: 256 })
  const r = await xioChain(['clean'])
  t.is(r.code, 0, r.stderr)
  t.true(r.stdout.includes(`removed /dev/shm/xio.${killed}`), r.stdout)
  t.false(existsSync(`/dev/shm/xio.${killed}`))
  t.true(existsSync(`/dev/shm/xio.${live.prefix}`), 'the running one is untouched')
  live.close()
})

test.serial('a second run of one spec under another prefix is refused before it can overwrite the first one\'s captures; with an --output of its own it runs', async (t) => {
  const dir = scratchDir('twice')
  const spec = join(dir, 'twice.json')
  writeFileSync(spec, JSON.stringify({
    name: 'twice',
    endpoints: {
      in: { kind: 'pcap', input: join(root, 'pcaps/l2fwd-in.pcap'), speed: 100, loop: 0 },
      fwd: { kind: 'l2fwd' },
      out: { kind: 'pcap', output: 'out.pcap' },
    },
    links: ['in -> fwd', 'fwd -> out'],
  }))
  const first = startXioChain(['run', spec, '--no-tui', '--prefix', uniquePrefix('first')])
  t.teardown(() => first.kill('SIGKILL'))
  t.true(await until(() => first.output().includes('-- 1s'), 20_000), first.output())
  const second = await xioChain(['run', spec, '--no-tui', '--prefix', uniquePrefix('second'), '--duration', '5'])
  t.is(second.code, 1)
  t.is(second.stderr.trim(), `${join(dir, 'out.pcap')}: another running chain is writing this capture; give this run another output (--output, or another spec)`)
  const own = join(dir, 'own.pcap')
  const third = await xioChain(['run', spec, '--no-tui', '--prefix', uniquePrefix('third'), '--duration', '1', '--output', `out=${own}`])
  t.is(third.code, 0, third.stderr)
  t.true(existsSync(own), 'it wrote its own capture')
  const wrong = await xioChain(['run', spec, '--no-tui', '--output', 'fwd=x.pcap'])
  t.is(wrong.code, 1)
  t.regex(wrong.stderr, /--output fwd=x\.pcap: 'fwd' is a l2fwd, not a pcap port \(its pcap ports: in, out\)/)
  first.kill('SIGINT')
  const [code] = await once(first, 'exit')
  t.is(code, 0, first.output())
})
