// xio-chain as users get it: packed, installed globally into a folder of its own, and run
// from another folder. The install has no tsx and no TypeScript: the command and its NF
// processes run the JavaScript compiled at pack time.
import test from 'ava'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
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

  // A project that depends on it, running it through its own npx.
  const project = scratchDir('project')
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-chains', private: true, allowScripts: { 'xio-chain': true } }))
  const add = await sh('npm', ['install', tarball, '--no-audit', '--no-fund'], project)
  t.is(add.code, 0, add.stderr)
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
  writeFileSync(join(project, 'mine-ts.json'), chain('./pass.ts'))
  const typescript = await sh('npx', ['xio-chain', 'validate', 'mine-ts.json'], project, 60_000)
  t.is(typescript.code, 1)
  t.regex(typescript.stderr, /\/endpoints\/mine\/module: .*pass\.ts is TypeScript: add tsx to its project/)
})
