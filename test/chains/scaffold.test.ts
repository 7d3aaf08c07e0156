// `xio-chain new nf <name>`: what it writes works as written — the generated test passes
// through the harness, the chain validates and runs the NF — and nothing is overwritten.
import test from 'ava'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, xioChain } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

const tsx = join(root, 'node_modules/tsx/dist/loader.mjs')

function node(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  )
}

test('a new NF: its module, a harness test that passes as generated, a chain that runs it', async (t) => {
  // A project with xio-chain installed (here: linked to this checkout).
  const project = scratchDir('scaffold')
  mkdirSync(join(project, 'node_modules'))
  symlinkSync(root, join(project, 'node_modules/xio-chain'))
  const made = await xioChain(['new', 'nf', 'ttl-check'], 60_000, project)
  t.is(made.code, 0, made.stderr)
  const dir = join(project, 'ttl-check')
  for (const f of ['ttl-check.ts', 'ttl-check.schema.json', 'ttl-check.test.ts', 'chain.json']) t.true(existsSync(join(dir, f)), f)
  t.regex(readFileSync(join(dir, 'ttl-check.ts'), 'utf8'), /import \{ defineNF, DROP, type Packet \} from 'xio-chain'/)
  // The config's schema is a file of its own, which the module uses and the chain's validator reads.
  const schema = JSON.parse(readFileSync(join(dir, 'ttl-check.schema.json'), 'utf8'))
  t.deepEqual(schema.properties.ipv4Only, { type: 'boolean', description: 'Drop what is not IPv4 (default false).' })
  t.regex(readFileSync(join(dir, 'ttl-check.ts'), 'utf8'), /import schema from '\.\/ttl-check\.schema\.json' with \{ type: 'json' \}/)
  const spec = JSON.parse(readFileSync(join(dir, 'chain.json'), 'utf8'))
  t.is(spec.$schema, '../node_modules/xio-chain/chains/chain.schema.json', 'the project\'s own copy of the chains\' schema')
  t.true(existsSync(join(dir, spec.$schema)))

  const tested = await node(['--import', tsx, '--test', 'ttl-check.test.ts'], dir)
  t.is(tested.code, 0, tested.stdout + tested.stderr)
  t.regex(tested.stdout, /# pass 2/)
  t.regex(tested.stdout, /# fail 0/)

  const valid = await xioChain(['validate', 'chain.json'], 60_000, dir)
  t.is(valid.code, 0, valid.stderr)
  const ran = await xioChain(['run', 'chain.json', '--duration', '2', '--no-tui'], 60_000, dir)
  t.is(ran.code, 0, ran.stderr)
  t.regex(ran.stdout, /^ttl-check +rx +\S+pps/m)
  // Outside any package, the NF has one of its own, an ES-module one: an error in its code is
  // said at its line, not in compiled code.
  t.deepEqual(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')), { name: 'ttl-check', private: true, type: 'module' })
  writeFileSync(join(dir, 'thrower.ts'), "import { defineNF } from 'xio-chain'\n\nexport default defineNF({\n  name: 'thrower', gates: ['out'], config: {},\n  create: () => ({ process(): number { throw new Error('no') } }),\n})\n")
  writeFileSync(join(dir, 'thrower.json'), JSON.stringify({ ...spec, endpoints: { ...spec.endpoints, 'ttl-check': { kind: 'nf', module: './thrower.ts' } } }))
  const threw = await xioChain(['run', 'thrower.json', '--duration', '2', '--no-tui'], 60_000, dir)
  t.is(threw.code, 0, threw.stderr)
  t.regex(threw.stderr, /Error: no\n.*at .*thrower\.ts:5:\d+/, threw.stderr)
  t.notRegex(threw.stderr, /data:text\/javascript/)

  // A config the schema file refuses is named by validate.
  writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ ...spec, endpoints: { ...spec.endpoints, 'ttl-check': { kind: 'nf', module: './ttl-check.ts', config: { ipv4Only: 'yes' } } } }))
  const wrong = await xioChain(['validate', 'wrong.json'], 60_000, dir)
  t.is(wrong.code, 1)
  t.regex(wrong.stderr, /wrong\.json: \/endpoints\/ttl-check\/config\/ipv4Only: must be boolean/)

  const again = await xioChain(['new', 'nf', 'ttl-check'], 60_000, project)
  t.is(again.code, 1)
  t.regex(again.stderr.trim(), /^xio-chain new: not overwriting ttl-check\/ttl-check\.ts, ttl-check\/ttl-check\.schema\.json, ttl-check\/ttl-check\.test\.ts, ttl-check\/chain\.json: pick another --dir or name$/)
  // A folder whose project lacks xio-chain gets no $schema (no path into where this command is installed).
  const bare = scratchDir('scaffold-bare')
  t.is((await xioChain(['new', 'nf', 'lone'], 60_000, bare)).code, 0)
  t.false('$schema' in JSON.parse(readFileSync(join(bare, 'lone/chain.json'), 'utf8')))
  // In a project whose package.json is CommonJS, that one is left alone, and the command says why it matters.
  const commonJs = scratchDir('scaffold-cjs')
  writeFileSync(join(commonJs, 'package.json'), '{ "name": "old-project" }\n')
  const inCjs = await xioChain(['new', 'nf', 'lone'], 60_000, commonJs)
  t.is(inCjs.code, 0, inCjs.stderr)
  t.false(existsSync(join(commonJs, 'lone/package.json')))
  t.regex(inCjs.stdout, /note: .*package\.json does not say "type": "module": add it, or errors in the NF point into compiled code/)
  const bad = await xioChain(['new', 'nf', 'Bad_Name'], 60_000, project)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /'Bad_Name' is not an NF name/)
})
