// The CLI refuses bad input with one line naming what is wrong, and a non-zero exit, before it
// starts anything.
import test from 'ava'
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { root, xioChain } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { uniquePrefix } from '../helpers/processes.ts'

const oneLine = (s: string) => s.trim().split('\n').length === 1

const refusals: [string[], RegExp][] = [
  [['run', 'chains/l2fwd.json', '--duration', 'ten', '--no-tui'], /--duration ten: expected a number of seconds above 0/],
  [['run', 'chains/l2fwd.json', '--duration', '-1', '--no-tui'], /--duration -1: expected a number of seconds above 0/],
  [['replay', 'chains/fw-nat.json', '--output', 'wna=/tmp/x.pcap'], /no endpoint 'wna' \(its pcap ports: lan, wan\)/],
  [['replay', 'chains/fw-nat.json', '--output', 'fw=/tmp/x.pcap'], /'fw' is a firewall, not a pcap port/],
  [['replay', 'chains/fw-nat.json', '--input', 'lan='], /expected <endpoint>=<file.pcap>/],
  [['frob'], /Unknown argument: frob/],
  // A number typed wrong is said as typed, not as NaN.
  [['capture', '--prefix', 'p', '--at', 'fw.rx', '-c', 'abc', '-w', '/tmp/x.pcap'], /^xio-chain: -c abc: expected a number \(xio-chain --help shows the usage\)\n$/],
  [['trace', '--prefix', 'p', '--quiet', 'soon'], /^xio-chain: --quiet soon: expected a number/],
  [['run', 'chains/l2fwd.json', '--max-restarts', 'lots'], /^xio-chain: --max-restarts lots: expected a number/],
  [['run'], /Not enough non-option arguments/],
  [['lab', 'sideways'], /^xio-chain: Invalid values: Argument: action, Given: "sideways", Choices: "up", "down" \(xio-chain --help/],
]
for (const [args, message] of refusals) {
  test(`xio-chain ${args.join(' ')}: refused in one line, exit 1`, async (t) => {
    const r = await xioChain(args, 20_000)
    t.is(r.code, 1)
    t.regex(r.stderr, message)
    t.true(oneLine(r.stderr), r.stderr)
  })
}

test('validate, run and replay refuse a chain whose input capture is missing or is pcapng, naming the spec, the field and the file', async (t) => {
  const dir = scratchDir('validate')
  const spec = (input: string) => {
    const file = join(dir, `chain-${input}.json`)
    writeFileSync(file, JSON.stringify({
      name: 'v',
      endpoints: { in: { kind: 'pcap', input }, fwd: { kind: 'l2fwd' }, out: { kind: 'pcap', output: 'out.pcap' } },
      links: ['in -> fwd', 'fwd -> out'],
    }))
    return file
  }
  for (const command of [['validate'], ['run', '--no-tui', '--duration', '1'], ['replay']]) {
    const missing = await xioChain([command[0], spec('nowhere.pcap'), ...command.slice(1)])
    t.is(missing.code, 1)
    t.is(missing.stderr.trim(), `${spec('nowhere.pcap')}: /endpoints/in/input: ${join(dir, 'nowhere.pcap')}: cannot open: no such file or folder`, command[0])
  }
  const flag = await xioChain(['replay', spec('nowhere.pcap'), '--input', `in=${join(dir, 'elsewhere.pcap')}`])
  t.is(flag.code, 1)
  t.is(flag.stderr.trim(), `xio-chain replay: --input in: ${join(dir, 'elsewhere.pcap')}: cannot open: no such file or folder`)
  const pcapng = join(dir, 'trace.pcapng')
  writeFileSync(pcapng, Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex'))
  const ng = await xioChain(['validate', spec('trace.pcapng')])
  t.is(ng.code, 1)
  t.regex(ng.stderr, /trace\.pcapng: pcapng is not supported; convert it: tshark -F pcap/)
  t.true(oneLine(ng.stderr))
  rmSync(dir, { recursive: true, force: true })
})

test('npm run bench -- --help prints the usage and runs nothing', async (t) => {
  const r = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--help'], { cwd: root, timeout: 20_000 }, (error, stdout) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  )
  t.is(r.code, 0)
  t.regex(r.stdout, /--only/)
  t.notRegex(r.stdout, /Mpps/)
})

test('an output capture on a read-only file system is one line naming the file, and the chain leaves nothing behind', async (t) => {
  const dir = scratchDir('rofs')
  const out = join(dir, 'out.pcap')
  // A read-only tmpfs over the folder, in a mount namespace of its own.
  const readOnly = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o ro tmpfs ${dir} && exec "$0" "$@"`]
  // A prefix of its own: other tests in this file replay the same chain at the same time.
  const prefix = uniquePrefix('rofs')
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(readOnly[0], [...readOnly.slice(1), process.execPath, join(root, 'bin/xio-chain.js'), 'replay', 'chains/l2fwd.json', '--prefix', prefix, '--output', `out=${out}`], { cwd: root, timeout: 60_000 }, (error, _stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  )
  t.is(r.code, 1)
  t.is(r.stderr.trim(), `${out}: cannot write: read-only file system`)
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'no region left')
})

test('npm test says which system tools are missing, and how to install them, when it cannot itself', async (t) => {
  // As a user who is not root, with none of the tools on its PATH.
  const dir = scratchDir('deps')
  chmodSync(dir, 0o755)
  copyFileSync(join(root, 'scripts/system-deps.sh'), join(dir, 'system-deps.sh'))
  symlinkSync(execFileSync('sh', ['-c', 'command -v id']).toString().trim(), join(dir, 'id'))
  const r = spawnSync('/bin/sh', [join(dir, 'system-deps.sh')], { env: { PATH: dir }, uid: 65534, gid: 65534, encoding: 'utf8' })
  t.is(r.status, 1)
  // Tools in /usr/bin are certainly missing from that PATH; the script also looks in the sbin
  // folders, where this machine may have ip and ethtool.
  const m = /^the tests need((?: \S+)+): install them \(sudo apt-get install((?: \S+)+)\), then run npm test again$/.exec(r.stderr.trim())
  t.truthy(m, r.stderr)
  t.is(m![1], m![2])
  for (const p of ['tcpdump', 'tshark', 'tmux', 'curl', 'iputils-ping']) t.true(m![1].split(' ').includes(p), `${p} in ${m![1]}`)
})

test('a chain runs from any folder, not only from inside the checkout', async (t) => {
  const elsewhere = scratchDir('elsewhere')
  const out = join(elsewhere, 'out.pcap')
  const r = await xioChain(['replay', join(root, 'chains/l2fwd.json'), '--json', '--output', `out=${out}`], 60_000, elsewhere)
  t.is(r.code, 0, r.stderr)
  t.true(JSON.parse(r.stdout).endpoints.fwd.rx > 0, 'the NF process started and forwarded')
})

test('validate, replay and run warn, and still go on, when a firewall drops by default but lets non-IP frames through by default', async (t) => {
  const dir = scratchDir('warn')
  const spec = join(dir, 'warn.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: { in: { kind: 'pcap', input: join(root, 'pcaps/lan.pcap') }, fw: { kind: 'firewall', config: { default: 'drop' } }, out: { kind: 'sink' } },
    links: ['in -> fw', 'fw -> out'],
  }))
  for (const args of [['validate', spec], ['replay', spec, '--json'], ['run', spec, '--no-tui', '--duration', '1', '--prefix', uniquePrefix('warn')]]) {
    const r = await xioChain(args)
    t.is(r.code, 0, r.stderr)
    t.regex(r.stderr, /^warning: .*warn\.json: \/endpoints\/fw\/config\/nonIp: .*non-IP frames through/, args[0])
  }
})

test('a CPU this machine does not have is one line naming the field, and the chain leaves nothing behind', async (t) => {
  const dir = scratchDir('no-such-cpu')
  const spec = join(dir, 'chain.json')
  const cpu = cpus().length + 5
  // The NF named first is fine; the group after it names the CPU that is not there.
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      gen: { kind: 'generator', count: 10 },
      first: { kind: 'l2fwd' },
      fw: { kind: 'firewall', group: 'edge', config: { default: 'allow' } },
      l2: { kind: 'l2fwd', group: 'edge', cpu: [cpu] },
      out: { kind: 'sink' },
    },
    links: ['gen -> first', 'first -> fw', 'fw -> l2', 'l2 -> out'],
  }))
  const prefix = uniquePrefix('no-such-cpu')
  const r = await xioChain(['run', spec, '--no-tui', '--duration', '5', '--prefix', prefix], 30_000)
  t.is(r.code, 1)
  t.regex(r.stderr.trim(), new RegExp(`^${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: /endpoints/l2/cpu: there is no CPU ${cpu} here \\(online: 0(, \\d+)*\\)$`))
  t.true(oneLine(r.stderr), r.stderr)
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'no region left')
  t.is(spawnSync('pgrep', ['-f', `nf-process\\.[jt]s ${spec}`]).status, 1, 'no NF process left')
})

test('a manager CPU this machine lacks: run refuses it naming /manager/cpu, leaving nothing; validate warns of it and of NFs\' (the spec may be for another machine)', async (t) => {
  const spec = join(scratchDir('no-manager-cpu'), 'chain.json')
  const cpu = cpus().length + 5
  writeFileSync(spec, JSON.stringify({
    manager: { cpu },
    endpoints: { gen: { kind: 'generator', count: 10 }, l2: { kind: 'l2fwd', cpu: [0, cpu + 1] }, out: { kind: 'sink' } },
    links: ['gen -> l2', 'l2 -> out'],
  }))
  const prefix = uniquePrefix('no-manager-cpu')
  const r = await xioChain(['run', spec, '--no-tui', '--duration', '5', '--prefix', prefix], 30_000)
  t.is(r.code, 1)
  t.true(oneLine(r.stderr), r.stderr)
  t.true(r.stderr.includes(`${spec}: /manager/cpu: there is no CPU ${cpu} here (online: 0`), r.stderr)
  t.false(existsSync(`/dev/shm/xio.${prefix}`), 'no region left')
  const v = await xioChain(['validate', spec])
  t.is(v.code, 0, v.stderr)
  t.true(v.stderr.includes(`warning: ${spec}: /manager/cpu: there is no CPU ${cpu} here`), v.stderr)
  t.true(v.stderr.includes(`warning: ${spec}: /endpoints/l2/cpu: there is no CPU ${cpu + 1} here`), v.stderr)
  // As JSON: valid, the same warnings by field.
  const j = await xioChain(['validate', spec, '--json'])
  t.is(j.code, 0, j.stderr)
  const verdict = JSON.parse(j.stdout)
  t.like(verdict, { file: spec, valid: true, endpoints: 3, links: 2, problems: [] })
  t.deepEqual(verdict.warnings.map((w: { path: string }) => w.path), ['/manager/cpu', '/endpoints/l2/cpu'])
  t.regex(verdict.warnings[0].message, new RegExp(`^there is no CPU ${cpu} here .*: run refuses it on this machine$`))
})

test('run ends with each NF\'s own counters, as its instances left them: what happened, not its zeros or timings', async (t) => {
  const spec = join(scratchDir('run-summary'), 'chain.json')
  writeFileSync(spec, JSON.stringify({
    endpoints: {
      gen: { kind: 'generator', count: 50, proto: 'udp', dstPort: 80 },
      fw: { kind: 'firewall', config: { default: 'drop', rules: [{ action: 'allow', proto: 'udp', dstPort: 80 }] } },
      out: { kind: 'sink' },
    },
    links: ['gen -> fw', 'fw -> out'],
  }))
  const r = await xioChain(['run', spec, '--no-tui', '--duration', '3', '--prefix', uniquePrefix('run-summary')], 30_000)
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.regex(lines.at(-3)!, /^gen: \{"sent":50/)
  t.regex(lines.at(-2)!, /^out: \{"received":50/)
  t.regex(lines.at(-1)!, /^fw: \{/)
  const fw = JSON.parse(lines.at(-1)!.slice('fw: '.length)) as Record<string, number>
  t.is(fw['rules/0/packets'], 50)
  t.false(Object.values(fw).includes(0), JSON.stringify(fw))
  t.false(['burstP50Ns', 'burstP99Ns', 'nsPerPacket'].some((k) => k in fw), JSON.stringify(fw))
})

test('validate --json says an invalid spec\'s every problem by field on stdout, and exits 1; a refused replay --json says it on stdout too', async (t) => {
  const spec = join(scratchDir('validate-json'), 'bad.json')
  writeFileSync(spec, JSON.stringify({ endpoints: { a: { kind: 'generatr' }, b: { kind: 'sink', rate: 3 } }, links: ['a -> b'] }))
  const r = await xioChain(['validate', spec, '--json'])
  t.is(r.code, 1)
  t.is(r.stderr, '')
  const verdict = JSON.parse(r.stdout)
  t.like(verdict, { file: spec, valid: false, warnings: [] })
  t.deepEqual(verdict.problems.map((p: { path: string }) => p.path), ['/endpoints/a/kind', '/endpoints/b/rate'])
  t.regex(verdict.problems[0].message, /did you mean 'generator'/)
  // replay --json refused: the refusal as JSON on stdout too, with the same problems.
  const replayed = await xioChain(['replay', spec, '--json'])
  t.is(replayed.code, 1)
  t.regex(replayed.stderr, /bad\.json: \/endpoints\/a\/kind: kind must be one of/)
  const refusal = JSON.parse(replayed.stdout)
  t.is(refusal.file, spec)
  t.deepEqual(refusal.problems, verdict.problems)
  t.is(refusal.error, replayed.stderr.trim())
  const missing = await xioChain(['validate', `${spec}.gone`, '--json'])
  t.is(missing.code, 1)
  t.deepEqual(JSON.parse(missing.stdout).problems, [{ path: '/', message: 'cannot read the spec: no such file or folder' }])
})
