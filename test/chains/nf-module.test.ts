// NFs of one's own: a chain names a module (TypeScript or JavaScript, in a folder of the
// user's), its config is checked against the module's own schema, and it runs in the chain
// like a built-in, in its own process.
import test from 'ava'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildIpv4Frame, IPPROTO_UDP } from '../../src/packet/index.ts'
import { PcapWriter, readPcap } from '../../src/chain/pcap.ts'
import { root, xioChain } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

const dir = scratchDir('nf-module')
mkdirSync(join(dir, 'nfs'))
// In TypeScript, without the SDK (a project with xio-chain installed imports it: the install test).
writeFileSync(join(dir, 'nfs/ttl-guard.ts'), `
interface Packet { bytes: Uint8Array; at: number; length: number }
export default {
  name: 'ttl-guard',
  gates: ['out'],
  config: { type: 'object', additionalProperties: false, required: ['minTtl'], properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255 } } },
  create(config: { minTtl: number }) {
    return { process: (p: Packet): number => (p.bytes[p.at + 12] === 8 && p.bytes[p.at + 22] < config.minTtl ? -1 : 0) }
  },
}
`)
// The same NF as plain JavaScript, as a user without TypeScript would write it.
writeFileSync(join(dir, 'nfs/ttl-guard.mjs'), `
export default {
  name: 'ttl-guard',
  gates: ['out'],
  config: { type: 'object', additionalProperties: false, required: ['minTtl'], properties: { minTtl: { type: 'integer', minimum: 1, maximum: 255 } } },
  create(config) {
    return { process: (p) => (p.bytes[p.at + 12] === 8 && p.bytes[p.at + 22] < config.minTtl ? -1 : 0) }
  },
}
`)
writeFileSync(join(dir, 'nfs/not-an-nf.mjs'), 'export default { gates: [], process() {} }\n')
writeFileSync(join(dir, 'nfs/no-default.mjs'), "export const nf = { name: 'forgot', gates: ['out'], create: () => ({ process: () => 0 }) }\n")
writeFileSync(join(dir, 'nfs/no-default.ts'), "export const nf = { name: 'forgot', gates: ['out'], create: () => ({ process: (): number => 0 }) }\n")
// A package installed in the user's project (node_modules beside the spec), named by its name.
mkdirSync(join(dir, 'node_modules/xio-nf-ttl'), { recursive: true })
writeFileSync(join(dir, 'node_modules/xio-nf-ttl/package.json'), JSON.stringify({ name: 'xio-nf-ttl', type: 'module', exports: './guard.js' }))
writeFileSync(join(dir, 'node_modules/xio-nf-ttl/guard.js'), readFileSync(join(dir, 'nfs/ttl-guard.mjs')))
// Bad NFs, each wrong in its own way.
const nfText = (body: string) => `export default { name: 'bad', gates: ['out'], ${body} }\n`
// A closing parenthesis missing: esbuild's error says where.
writeFileSync(join(dir, 'nfs/syntax-error.ts'), "export default {\n  name: 's', gates: ['out'],\n  create: () => ({ process: (): number => 0 }\n")
writeFileSync(join(dir, 'nfs/throws-on-import.mjs'), `throw new Error('settings.json not found')\n${nfText('create: () => ({ process: () => 0 })')}`)
writeFileSync(join(dir, 'nfs/bad-schema.mjs'), nfText(`config: { type: 'object', properties: { limit: { type: 'integr' } } }, create: () => ({ process: () => 0 })`))
writeFileSync(join(dir, 'nfs/one-only.mjs'), nfText(`singleInstance: 'it counts flows in its own memory', create: () => ({ process: () => 0 })`))
writeFileSync(join(dir, 'nfs/bad-single.mjs'), nfText(`singleInstance: true, create: () => ({ process: () => 0 })`))
writeFileSync(join(dir, 'nfs/create-throws.mjs'), nfText(`create(config) { const size = config.table.size; return { process: () => size } }`))
writeFileSync(join(dir, 'nfs/no-process.mjs'), nfText(`create: () => ({ proccess: () => 0 })`))
// At TTL 3 process() throws, at TTL 4 it forgets to return a gate, at TTL 5 it sets a length
// past the buffer; tick() always throws.
writeFileSync(join(dir, 'nfs/faulty.mjs'), nfText(`create: () => ({
  process(p) {
    const ttl = p.bytes[p.at + 22]
    if (ttl === 3) throw new RangeError('no rule for TTL 3')
    if (ttl === 4) return
    if (ttl === 5) p.length = 5000
    return 0
  },
  tick() { throw new Error('timer table corrupt') },
  counters: () => ({ seen: 1 }),
})`))

// Ten UDP packets with TTLs 1 to 10.
const capture = join(dir, 'ttls.pcap')
const writer = new PcapWriter(capture)
const frame = new Uint8Array(60)
for (let ttl = 1; ttl <= 10; ttl++) {
  buildIpv4Frame(frame, 0, { src: 0x0a000002, dst: 0xc6336409, proto: IPPROTO_UDP, srcPort: 1000 + ttl, dstPort: 53, ttl })
  writer.write(frame, 0, frame.length, BigInt(ttl) * 1_000_000n)
}
writer.close()

function spec(name: string, guard: object): string {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({
    endpoints: { in: { kind: 'pcap', input: './ttls.pcap' }, guard: { kind: 'nf', ...guard }, out: { kind: 'pcap' } },
    links: ['in -> guard', 'guard -> out'],
  }))
  return file
}

for (const module of ['./nfs/ttl-guard.ts', './nfs/ttl-guard.mjs', 'xio-nf-ttl']) {
  test(`a chain runs a module of the user's (${module}) in its own process, from the user's folder`, async (t) => {
    const tag = module.replace(/\W/g, '')
    const file = spec(`run-${tag}`, { module, config: { minTtl: 5 } })
    const out = join(dir, `out-${tag}.pcap`)
    const r = await xioChain(['replay', file, '--json', '--output', `out=${out}`], 60_000, dir)
    t.is(r.code, 0, r.stderr)
    t.is(JSON.parse(r.stdout).endpoints.guard.rx, 10)
    const ttls = (await readPcap(out)).records.map((rec) => rec.data[22])
    t.deepEqual(ttls, [5, 6, 7, 8, 9, 10])
  })
}

test('the module\'s config is checked against the module\'s own schema, naming the file and the field', async (t) => {
  const file = spec('bad-config', { module: './nfs/ttl-guard.ts', config: { minTtl: 300, colour: 'red' } })
  const r = await xioChain(['validate', file], 60_000, dir)
  t.is(r.code, 1)
  t.deepEqual(r.stderr.trim().split('\n').sort(), [
    `${file}: /endpoints/guard/config/colour: unknown field 'colour'`,
    `${file}: /endpoints/guard/config/minTtl: must be <= 255`,
  ])
})

test('a missing module, or one that is not an NF, is refused naming the endpoint and the file', async (t) => {
  const missing = spec('missing', { module: './nfs/nowhere.ts' })
  const r1 = await xioChain(['validate', missing], 60_000, dir)
  t.is(r1.code, 1)
  t.is(r1.stderr.trim(), `${missing}: /endpoints/guard/module: no such module: ${join(dir, 'nfs/nowhere.ts')}`)
  const notNf = spec('not-nf', { module: './nfs/not-an-nf.mjs' })
  const r2 = await xioChain(['validate', notNf], 60_000, dir)
  t.is(r2.code, 1)
  t.regex(r2.stderr, /\/endpoints\/guard\/module: .*not-an-nf\.mjs: gates must be a list of gate names/)
  const noDefault = spec('no-default', { module: './nfs/no-default.mjs' })
  const r4 = await xioChain(['validate', noDefault], 60_000, dir)
  t.is(r4.code, 1)
  t.regex(r4.stderr, /\/endpoints\/guard\/module: .*no-default\.mjs: it has no default export/)
  // The same in TypeScript (compiled as CommonJS outside an ES-module package), naming what it exports.
  const noDefaultTs = spec('no-default-ts', { module: './nfs/no-default.ts' })
  const r5 = await xioChain(['validate', noDefaultTs], 60_000, dir)
  t.is(r5.code, 1)
  t.regex(r5.stderr, /\/endpoints\/guard\/module: .*no-default\.ts: it has no default export \(it exports nf\)/)
  // In an ES-module package, a TypeScript default export that is no NF is said as what it lacks.
  mkdirSync(join(dir, 'nfs/esm'), { recursive: true })
  writeFileSync(join(dir, 'nfs/esm/package.json'), '{ "type": "module" }\n')
  writeFileSync(join(dir, 'nfs/esm/not-an-nf.ts'), `export default { name: 'notnf', process: () => 0 }\n`)
  const r6 = await xioChain(['validate', spec('esm-not-nf', { module: './nfs/esm/not-an-nf.ts' })], 60_000, dir)
  t.is(r6.code, 1)
  t.regex(r6.stderr, /\/endpoints\/guard\/module: .*not-an-nf\.ts: gates must be a list of gate names/)
  const noPackage = spec('no-package', { module: 'xio-nf-that-does-not-exist' })
  const r3 = await xioChain(['validate', noPackage], 60_000, dir)
  t.regex(r3.stderr, /\/endpoints\/guard\/module: cannot find package 'xio-nf-that-does-not-exist'/)
})

test('a module that runs as one instance only is refused more, with its reason; one that says so wrongly is not an NF', async (t) => {
  const two = spec('one-only', { module: './nfs/one-only.mjs', instances: 2 })
  const r1 = await xioChain(['validate', two], 60_000, dir)
  t.is(r1.code, 1)
  t.is(r1.stderr.trim(), `${two}: /endpoints/guard/instances: 2, but module ./nfs/one-only.mjs runs as one instance: it counts flows in its own memory`)
  const one = await xioChain(['validate', spec('one-only-1', { module: './nfs/one-only.mjs' })], 60_000, dir)
  t.is(one.code, 0, one.stderr)
  const r2 = await xioChain(['validate', spec('bad-single', { module: './nfs/bad-single.mjs' })], 60_000, dir)
  t.is(r2.code, 1)
  t.regex(r2.stderr, /\/endpoints\/guard\/module: .*bad-single\.mjs: singleInstance must be a string/)
})

test('a module that throws on import, does not compile, has a broken schema, or whose create() throws or returns no process() stops validate and run, naming the module, the cause and where in it', async (t) => {
  const cases: Array<[string, RegExp]> = [
    // Where in the module's own file, from the error's stack.
    ['./nfs/throws-on-import.mjs', /\/endpoints\/guard\/module: .*throws-on-import\.mjs failed to load: settings\.json not found at \/.*\/nfs\/throws-on-import\.mjs:1:7$/],
    ['./nfs/syntax-error.ts', /\/endpoints\/guard\/module: .*syntax-error\.ts failed to load: .*syntax-error\.ts:4:0: Expected "\)" but found end of file$/],
    ['./nfs/bad-schema.mjs', /\/endpoints\/guard\/module: its config schema is not a valid JSON Schema: .*type/],
    ['./nfs/create-throws.mjs', /\/endpoints\/guard: module \.\/nfs\/create-throws\.mjs: create\(\) threw TypeError: Cannot read properties of undefined \(reading 'size'\) at \/.*\/nfs\/create-throws\.mjs:\d+:\d+$/],
    // Every packet would fail on it: refused before it runs.
    ['./nfs/no-process.mjs', /\/endpoints\/guard: module \.\/nfs\/no-process\.mjs: create\(\) returned an object without process\(\) \(it has proccess\); it returns the NF instance/],
  ]
  for (const [module, expected] of cases) {
    const file = spec(`bad-${module.slice(6, -4)}`, { module })
    for (const command of ['validate', 'run']) {
      const r = await xioChain([command, file], 60_000, dir)
      t.is(r.code, 1, `${command} ${module}`)
      t.regex(r.stderr.trim(), expected, `${command} ${module}`)
      t.notRegex(r.stderr, /\n\s+at /, 'no stack trace')
    }
  }
})

test('an NF whose process() throws, returns no gate or sets a length past the buffer loses that packet, counted by name and said; the chain runs on', async (t) => {
  const file = spec('faulty', { module: './nfs/faulty.mjs' })
  const out = join(dir, 'faulty-out.pcap')
  const r = await xioChain(['replay', file, '--json', '--output', `out=${out}`], 60_000, dir)
  t.is(r.code, 0, r.stderr)
  const guard = JSON.parse(r.stdout).endpoints.guard
  t.is(guard.rx, 10)
  t.like(guard.counters, { 'drop/processThrew': 1, 'drop/badVerdict': 1, 'drop/badLength': 1, seen: 1 })
  t.true(guard.counters.tickErrors >= 1)
  t.deepEqual((await readPcap(out)).records.map((rec) => rec.data[22]), [1, 2, 6, 7, 8, 9, 10])
  t.regex(r.stderr, /guard: process\(\) set the packet's length to 5000, which is no length of a buffer of \d+ bytes \(packet dropped; 1 so far\)/)
  t.regex(r.stderr, /guard: process\(\) threw \(packet dropped; 1 so far\): RangeError: no rule for TTL 3/)
  t.regex(r.stderr, /guard: process\(\) returned undefined, which is no gate of this NF/)
  t.regex(r.stderr, /guard: tick\(\) threw \(1 so far\): Error: timer table corrupt/)
})

test('links name a module\'s own gates', async (t) => {
  const file = join(dir, 'gates.json')
  writeFileSync(file, JSON.stringify({
    endpoints: { in: { kind: 'pcap', input: './ttls.pcap' }, guard: { kind: 'nf', module: './nfs/ttl-guard.ts', config: { minTtl: 1 } }, out: { kind: 'pcap' } },
    links: ['in -> guard', 'guard.rejected -> out'],
  }))
  const r = await xioChain(['validate', file], 60_000, dir)
  t.is(r.code, 1)
  t.regex(r.stderr, /\/links\/1: nf 'guard' has no gate 'rejected' \(its gates: out\)/)
})

test('the bundled example validates and replays; replay --json is the same every run, how long the NF took apart', async (t) => {
  const replay = async () => {
    const r = await xioChain(['replay', join(root, 'examples/ttl-guard/chain.json'), '--json', '--output', `out=${join(dir, 'example.pcap')}`])
    t.is(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as { endpoints: Record<string, { written?: number; counters?: Record<string, number>; timing?: Record<string, number> }> }
  }
  const first = await replay()
  t.is(first.endpoints.out.written, 7)
  t.deepEqual(first.endpoints.guard.counters, { passed: 7, 'drop/lowTtl': 9 })
  t.true(first.endpoints.guard.timing!.nsPerPacket > 0, 'its timing, apart')
  const second = await replay()
  for (const r of [first, second]) delete r.endpoints.guard.timing
  t.deepEqual(second, first)
})
