// xio-chain as users get it: packed, installed globally into a folder of its own, and run
// from another folder. The install has no tsx and no TypeScript: the command and its NF
// processes run the JavaScript compiled at pack time.
import test from 'ava'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'
import { readPcap } from '../../src/chain/pcap.ts'

function sh(command: string, args: string[], cwd: string, timeout = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(command, args, { cwd, timeout, env: { ...process.env, npm_config_loglevel: 'error' } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  )
}

test('a global install, or a project depending on it, runs a chain from any folder, without tsx', async (t) => {
  const dir = scratchDir('install')
  const pack = await sh('npm', ['pack', '--pack-destination', dir, '--silent'], root)
  t.is(pack.code, 0, pack.stderr)
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!)
  const prefix = join(dir, 'global')
  const install = await sh('npm', ['install', '-g', tarball, '--allow-scripts=xio-chain', '--prefix', prefix, '--no-audit', '--no-fund'], dir)
  t.is(install.code, 0, install.stderr)
  const installed = join(prefix, 'lib/node_modules/xio-chain')
  t.false(existsSync(join(installed, 'node_modules/tsx')), 'tsx is for development only')
  const elsewhere = scratchDir('user')
  const wan = join(elsewhere, 'wan.pcap')
  const r = await sh(join(prefix, 'bin/xio-chain'), ['replay', join(installed, 'chains/fw-nat.json'), '--json', '--output', `wan=${wan}`], elsewhere, 60_000)
  t.is(r.code, 0, r.stderr)
  t.true(JSON.parse(r.stdout).endpoints.nat.rx > 0, 'the NFs ran')
  t.true((await readPcap(wan)).records.length > 0, 'and the output was written where asked')

  // `new nf` from the global install: the first step it suggests, installing that folder into
  // the NF's own, works there (npm runs its prepare script, which has nothing to build).
  const scaffolded = await sh(join(prefix, 'bin/xio-chain'), ['new', 'nf', 'probe'], elsewhere)
  t.is(scaffolded.code, 0, scaffolded.stderr)
  const suggested = /npm install (\S+) and npm install --save-dev tsx/.exec(scaffolded.stdout)
  t.is(suggested?.[1], installed, scaffolded.stdout)
  const linked = await sh('npm', ['install', suggested![1], '--no-audit', '--no-fund'], join(elsewhere, 'probe'))
  t.is(linked.code, 0, linked.stderr)
  t.true(existsSync(join(elsewhere, 'probe/node_modules/xio-chain/dist/cli/main.js')))

  // A project that depends on it, running it through its own npx.
  const project = scratchDir('project')
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-chains', private: true, allowScripts: { 'xio-chain': true } }))
  const add = await sh('npm', ['install', tarball, '--no-audit', '--no-fund'], project)
  t.is(add.code, 0, add.stderr)
  // npx must leave the addon the install built as it is: the same file, never rebuilt or removed.
  const addon = join(project, 'node_modules/xio-chain/build/Release/xio.node')
  const built = statSync(addon)
  const l2fwd = join(project, 'node_modules/xio-chain/chains/l2fwd.json')
  const local = await sh('npx', ['xio-chain', 'replay', l2fwd, '--json', '--output', `out=${join(project, 'out.pcap')}`], project, 60_000)
  t.is(local.code, 0, local.stderr)
  t.true(JSON.parse(local.stdout).endpoints.fwd.rx > 0)

  // The project's own NF, in JavaScript, in a chain of its own; a TypeScript one needs the
  // project's tsx, and says so.
  writeFileSync(join(project, 'pass.mjs'), "export default { name: 'pass', gates: ['out'], create: () => ({ process: () => 0 }) }\n")
  writeFileSync(join(project, 'pass.ts'), "export default { name: 'pass', gates: ['out'], create: () => ({ process: (): number => 0 }) }\n")
  const lan = join(project, 'node_modules/xio-chain/pcaps/lan.pcap')
  const chain = (module: string) => JSON.stringify({
    endpoints: { in: { kind: 'pcap', input: lan }, mine: { kind: 'nf', module }, out: { kind: 'pcap' } },
    links: ['in -> mine', 'mine -> out'],
  })
  writeFileSync(join(project, 'mine.json'), chain('./pass.mjs'))
  const mine = await sh('npx', ['xio-chain', 'replay', 'mine.json', '--json', '--output', `out=${join(project, 'mine.pcap')}`], project, 60_000)
  t.is(mine.code, 0, mine.stderr)
  t.is(JSON.parse(mine.stdout).endpoints.mine.rx, 8)
  // The SDK: an NF written against the package's own exports, run, and type-checked.
  const guard = `import { defineNF, DROP, type Packet } from 'xio-chain'
import { ipv4Ttl } from 'xio-chain/packet'

export default defineNF<{ minTtl: number }>({
  name: 'guard',
  gates: ['out'],
  config: { type: 'object', required: ['minTtl'], properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255 } } },
  create: (config) => ({ process: (p: Packet) => (ipv4Ttl(p.bytes, p.at + 14) < config.minTtl ? DROP : 0) }),
})
`
  writeFileSync(join(project, 'guard.mjs'), guard.replace(', type Packet', '').replace('<{ minTtl: number }>', '').replace('(p: Packet)', '(p)'))
  writeFileSync(join(project, 'guard.ts'), guard)
  writeFileSync(join(project, 'wrong.ts'), guard.replace('DROP : 0)', "DROP : 'zero')"))
  writeFileSync(join(project, 'guard.json'), JSON.stringify({
    endpoints: { in: { kind: 'pcap', input: lan }, guard: { kind: 'nf', module: './guard.mjs', config: { minTtl: 65 } }, out: { kind: 'pcap' } },
    links: ['in -> guard', 'guard -> out'],
  }))
  const guarded = await sh('npx', ['xio-chain', 'replay', 'guard.json', '--json', '--output', `out=${join(project, 'guarded.pcap')}`], project, 60_000)
  t.is(guarded.code, 0, guarded.stderr)
  t.deepEqual([JSON.parse(guarded.stdout).endpoints.guard.rx, JSON.parse(guarded.stdout).endpoints.out.written], [8, 0], 'every packet of the capture has TTL 64, under 65')
  // Its test, through the harness, on a frame the packet helpers build.
  writeFileSync(join(project, 'guard.test.mjs'), `import { harness } from 'xio-chain/testing'
import { buildIpv4Frame } from 'xio-chain/packet'
import guard from './guard.mjs'
const frame = (ttl) => { const b = new Uint8Array(60); buildIpv4Frame(b, 0, { src: 1, dst: 2, proto: 17, ttl }); return b }
const h = harness(guard, { minTtl: 10 })
console.log(JSON.stringify([h.send(frame(9)).verdict, h.send(frame(10)).verdict]))
`)
  const harnessed = await sh(process.execPath, ['guard.test.mjs'], project, 60_000)
  t.is(harnessed.stdout.trim(), '["drop","out"]', harnessed.stderr)
  // The data plane itself, as the README writes against it: attach from 'xio-chain/xio'.
  writeFileSync(join(project, 'attach.mjs'), `import { attach } from 'xio-chain/xio'
attach({ prefix: 'no-such-chain-${process.pid}', name: 'fw' }).then(() => console.log('attached'), (e) => console.log(e.code))
`)
  const attached = await sh(process.execPath, ['attach.mjs'], project, 60_000)
  t.is(attached.stdout.trim(), 'NO_REGION', attached.stderr)
  const typecheck = (file: string) => {
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', noEmit: true, types: [] }, files: [file] }))
    return sh(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project, 60_000)
  }
  const typed = await typecheck('guard.ts')
  t.is(typed.code, 0, typed.stdout + typed.stderr)
  const mistyped = await typecheck('wrong.ts')
  t.not(mistyped.code, 0)
  t.regex(mistyped.stdout, /wrong\.ts.*error TS2322/)

  writeFileSync(join(project, 'mine-ts.json'), chain('./pass.ts'))
  const typescript = await sh('npx', ['xio-chain', 'validate', 'mine-ts.json'], project, 60_000)
  t.is(typescript.code, 1)
  t.regex(typescript.stderr, /\/endpoints\/mine\/module: .*pass\.ts is TypeScript: add tsx to its project/)

  const after = statSync(addon)
  t.deepEqual([after.ino, after.mtimeMs, after.size], [built.ino, built.mtimeMs, built.size], 'the addon is the one the install built')
})

test('a fresh clone whose dependencies are not installed yet says so in one line, naming the folder to run npm ci in', async (t) => {
  const clone = join(scratchDir('clone'), 'xio-chain')
  const cloned = await sh('git', ['clone', '-q', root, clone], root, 60_000)
  t.is(cloned.code, 0, cloned.stderr)
  const r = await sh(join(clone, 'xio-chain'), ['--help'], scratchDir('elsewhere'), 60_000)
  t.is(r.code, 1)
  t.is(r.stderr, `xio-chain: its dependencies are not installed (tsx is missing): run npm ci in ${clone}/ (see its README)\n`)
})
