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
})
