// `xio-chain new nf <name>`: the files of a new NF of one's own, ready to edit — the module
// (against the SDK), its config's JSON Schema beside it (as the built-in NFs keep theirs), a
// test through the harness that passes as written, and a chain that runs it between a
// generator and a sink. Nothing is overwritten.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

export class ScaffoldError extends Error {}

const NAME = /^[a-z][a-z0-9-]{0,39}$/

/**
 * The chains' schema as the folder's project sees it (its node_modules/xio-chain), for the
 * spec's $schema: editor completion for the built-in endpoints, as the bundled chains have.
 * None if the project does not have xio-chain (a path into wherever this command happens to be
 * installed, an npx cache, would not last).
 */
function chainSchemaFor(folder: string): string | undefined {
  // Looked for as Node resolves a package, but keeping the path through node_modules (a linked
  // package resolves to its real place elsewhere).
  const schema = nearest(folder, 'node_modules/xio-chain/chains/chain.schema.json')
  return schema && relative(folder, schema)
}

/** `path` in `folder` or the nearest folder above it that has it, as Node looks for packages and package.json; none if no folder has it. */
function nearest(folder: string, path: string): string | undefined {
  for (let dir = folder; ; dir = dirname(dir)) {
    if (existsSync(join(dir, path))) return join(dir, path)
    if (dirname(dir) === dir) return undefined
  }
}

function moduleText(name: string): string {
  return `// ${name}: an NF of your own. process() decides each packet in place: return a gate's
// index (here 0, "out") or DROP. Its config is checked against ${name}.schema.json by
// \`xio-chain validate\` and \`run\`; create() then builds the NF from it.
import { defineNF, DROP, type Packet } from 'xio-chain'
import { ETH_HLEN, ETHERTYPE_IPV4, get16 } from 'xio-chain/packet'
import schema from './${name}.schema.json' with { type: 'json' }

/** The config ${name}.schema.json describes: keep the two in step (validate checks configs against the schema). */
export interface Config {
  /** Drop what is not IPv4 (default false). */
  ipv4Only?: boolean
}

const OUT = 0

export default defineNF<Config>({
  name: '${name}',
  gates: ['out'],
  config: schema,
  create(config) {
    let passed = 0
    let dropped = 0
    return {
      process(p: Packet): number {
        const ipv4 = p.length >= ETH_HLEN && get16(p.bytes, p.at + 12) === ETHERTYPE_IPV4
        if (config.ipv4Only && !ipv4) {
          dropped++
          return DROP
        }
        passed++
        return OUT
      },
      // A drop counted as drop/<reason> is a drop to the dashboard, trace and Prometheus
      // (xio_nf_drops_total{reason="notIpv4"}); other names are counters of its own.
      counters: () => ({ passed, 'drop/notIpv4': dropped }),
    }
  },
})
`
}

function testText(name: string): string {
  return `// ${name}'s test, without the data plane: node --import tsx --test ${name}.test.ts
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { arpFrame, harness, ipv4Frame } from 'xio-chain/testing'
import nf from './${name}.ts'

const udp = () => ipv4Frame({ proto: 'udp', src: '10.0.0.2', dst: '198.51.100.9', srcPort: 5000, dstPort: 53 })
const arp = () => arpFrame({ senderIp: '10.0.0.2', targetIp: '10.0.0.1' })

test('passes IPv4 out of its gate', () => {
  const h = harness(nf, {})
  assert.equal(h.send(udp()).verdict, 'out')
  assert.equal(h.counters().passed, 1)
})

test('with ipv4Only, drops what is not IPv4', () => {
  const h = harness(nf, { ipv4Only: true })
  assert.equal(h.send(arp()).verdict, 'drop')
  assert.equal(h.send(udp()).verdict, 'out')
  assert.deepEqual(h.counters(), { passed: 1, 'drop/notIpv4': 1 })
})
`
}

function schemaText(name: string): string {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `${name} config`,
    type: 'object',
    additionalProperties: false,
    properties: { ipv4Only: { type: 'boolean', description: 'Drop what is not IPv4 (default false).' } },
  }
  return `${JSON.stringify(schema, null, 2)}\n`
}

function chainText(name: string, folder: string): string {
  return `${JSON.stringify(
    {
      $schema: chainSchemaFor(folder),
      name,
      description: `${name} between a generator and a sink: xio-chain run chain.json`,
      endpoints: {
        traffic: { kind: 'generator', rate: 1000, flows: 16 },
        [name]: { kind: 'nf', module: `./${name}.ts`, config: { ipv4Only: true } },
        sink: { kind: 'sink' },
      },
      links: [`traffic -> ${name}`, `${name} -> sink`],
    },
    null,
    2,
  )}\n`
}

function isModulePackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { type?: unknown }).type === 'module'
  } catch {
    return false
  }
}

export interface Scaffold {
  files: string[]
  /** Said beside the files: a project whose package.json leaves the NF a CommonJS module. */
  note?: string
}

/**
 * Writes the new NF's files into `dir`: its module, schema, test and chain, and, outside any
 * package, a package.json of the NF's own. Refuses a bad name or any file that exists.
 */
export function scaffoldNf(name: string, dir: string): Scaffold {
  if (!NAME.test(name)) throw new ScaffoldError(`'${name}' is not an NF name: lowercase letters, digits and '-', starting with a letter`)
  const folder = resolve(dir)
  const files: Array<[string, string]> = [
    [join(folder, `${name}.ts`), moduleText(name)],
    [join(folder, `${name}.schema.json`), schemaText(name)],
    [join(folder, `${name}.test.ts`), testText(name)],
    [join(folder, 'chain.json'), chainText(name, folder)],
  ]
  // Node loads a .ts file as CommonJS outside an ES-module package: the NF runs, but an error
  // in it points into compiled code (a data: URL), not at its line. Its own package says
  // "module" (and `npm install` then records its dependencies there); a project's is its own.
  const project = nearest(folder, 'package.json')  // its "type" decides how Node loads the NF
  if (!project) files.push([join(folder, 'package.json'), `${JSON.stringify({ name, private: true, type: 'module' }, null, 2)}\n`])
  const note = project && !isModulePackage(project)
    ? `${relative(process.cwd(), project) || project} does not say "type": "module": add it, or errors in the NF point into compiled code rather than at its lines`
    : undefined
  const existing = files.filter(([file]) => existsSync(file)).map(([file]) => relative(process.cwd(), file) || file)
  if (existing.length) throw new ScaffoldError(`not overwriting ${existing.join(', ')}: pick another --dir or name`)
  mkdirSync(folder, { recursive: true })
  for (const [file, text] of files) writeFileSync(file, text, { flag: 'wx' })
  return { files: files.map(([file]) => file), ...(note ? { note } : {}) }
}
