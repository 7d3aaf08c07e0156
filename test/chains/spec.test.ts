// Spec validation: every kind of mistake is reported with the file, the JSON path of the
// offending field and what was expected.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkChain, loadChain, nfCpuList, SpecError } from '../../src/chain/spec.ts'
import { xioChain } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch.ts'

const FILE = 'chains/x.json'
const base = () => ({
  endpoints: {
    in: { kind: 'pcap', input: 'in.pcap' },
    fw: { kind: 'firewall', config: { default: 'drop', rules: [{ action: 'allow', proto: 'tcp', dstPort: 80 }] } },
    out: { kind: 'sink' },
  } as Record<string, unknown>,
  links: ['in -> fw', 'fw -> out'],
})

function problems(json: unknown): string[] {
  try {
    checkChain(FILE, json)
  } catch (e) {
    if (e instanceof SpecError) return e.message.split('\n')
    throw e
  }
  return []
}

test('a valid spec resolves endpoints, gates and links', (t) => {
  const chain = checkChain(FILE, base())
  t.deepEqual([...chain.endpoints.keys()], ['in', 'fw', 'out'])
  t.deepEqual(chain.links.map((l) => `${l.from}.${l.gate}(${l.gateIndex}) -> ${l.to}`), ['in.out(0) -> fw', 'fw.out(0) -> out'])
  t.is(chain.prefix, 'x')
})

test('a bad field deep in an NF config names its path and what was expected', (t) => {
  const spec = base()
  ;(spec.endpoints.fw as { config: { rules: unknown[] } }).config.rules.push({ action: 'allow' }, { action: 'allow', dstPort: 'http' })
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/fw/config/rules/2/dstPort: must be a port, a range "low-high", or a list of them`])
})

test('an unknown field is named, and the field it most likely misspells', (t) => {
  const spec = base()
  ;(spec.endpoints.in as Record<string, unknown>).spede = 'top'
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/in/spede: unknown field 'spede' (did you mean 'speed'?)`])
  delete (spec.endpoints.in as Record<string, unknown>).spede
  ;(spec.endpoints.in as Record<string, unknown>).colour = 'blue'
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/in/colour: unknown field 'colour'`], 'nothing near it: no guess')
  const typo = base()
  ;(typo.endpoints.in as Record<string, unknown>).loops = 2
  ;(typo.endpoints.fw as Record<string, unknown>).gruop = 'edge'
  t.deepEqual(problems(typo), [
    `${FILE}: /endpoints/in/loops: unknown field 'loops' (did you mean 'loop'?)`,
    `${FILE}: /endpoints/fw/gruop: unknown field 'gruop' (did you mean 'group'?)`,
  ])
})

test('a missing required field is named', (t) => {
  const spec = base()
  spec.endpoints.nat = { kind: 'nat' }
  spec.links.push('fw.out -> nat')
  t.true(problems(spec).includes(`${FILE}: /endpoints/nat/config: is required`))
})

test('an endpoint with no kind says what fields it has instead, so a misspelt kind is named', (t) => {
  const spec = base()
  spec.endpoints.in = { knid: 'pcap', input: 'in.pcap' }
  t.deepEqual(problems(spec), [
    `${FILE}: /endpoints/in/kind: is required (it has 'knid', 'input')`,
    `${FILE}: /endpoints/in: kind must be one of l2fwd, firewall, nat, router, nf, pcap, afpacket, generator, sink, service`,
  ])
})

test('an unknown endpoint kind lists the kinds there are', (t) => {
  const spec = base()
  spec.endpoints.fw = { kind: 'firewal' }
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/fw/kind: kind must be one of l2fwd, firewall, nat, router, nf, pcap, afpacket, generator, sink, service, not 'firewal' (did you mean 'firewall'?)`])
  spec.endpoints.fw = { kind: 'bridge' }
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/fw/kind: kind must be one of l2fwd, firewall, nat, router, nf, pcap, afpacket, generator, sink, service, not 'bridge'`])
})

test('a bad address says what an address looks like', (t) => {
  const spec = base()
  spec.endpoints.nat = { kind: 'nat', config: { external: '203.0.113.300' } }
  t.true(problems(spec).includes(`${FILE}: /endpoints/nat/config/external: must be an IPv4 address like 192.0.2.1`))
})

test('a malformed link is pointed at', (t) => {
  const spec = base()
  spec.links[1] = 'fw => out'
  t.deepEqual(problems(spec), [`${FILE}: /links/1: must be "from -> to" or "from.gate -> to"`])
})

test('a link to an endpoint that does not exist lists the ones that do', (t) => {
  const spec = base()
  spec.links[1] = 'fw -> outt'
  t.deepEqual(problems(spec), [`${FILE}: /links/1: no endpoint named 'outt' (did you mean 'out'?) (have: in, fw, out)`])
})

test('a gate the NF does not have lists its gates', (t) => {
  const spec = base()
  spec.links[1] = 'fw.inside -> out'
  t.deepEqual(problems(spec), [`${FILE}: /links/1: firewall 'fw' has no gate 'inside' (its gates: out)`])
})

test('a gate wired twice is refused', (t) => {
  const spec = base()
  spec.links.push('fw.out -> in')
  t.deepEqual(problems(spec), [`${FILE}: /links/2: gate fw.out is already linked by /links/1: a gate leads to one endpoint`])
})

test('an endpoint no packet can reach is reported', (t) => {
  const spec = base()
  spec.endpoints.idle = { kind: 'l2fwd' }
  spec.links.push('idle -> out')
  t.deepEqual(problems(spec), [`${FILE}: /endpoints/idle: no packet can reach 'idle': no link leads to it from a port that brings packets in`])
})

test('a cycle with no exit is reported for each NF on it', (t) => {
  const spec = base()
  spec.endpoints.a = { kind: 'l2fwd' }
  spec.endpoints.b = { kind: 'l2fwd' }
  spec.links = ['in -> fw', 'fw -> a', 'a -> b', 'b -> a']
  const found = problems(spec)
  t.true(found.includes(`${FILE}: /endpoints/a: packets reaching 'a' can never leave the chain: its links loop through a -> b with no exit to a port`))
  t.true(found.includes(`${FILE}: /endpoints/b: packets reaching 'b' can never leave the chain: its links loop through b -> a with no exit to a port`))
  // Leading nowhere is no loop: fw's packets go to a, which has no link on.
  spec.links = ['in -> fw', 'fw -> a']
  t.true(problems(spec).includes(`${FILE}: /endpoints/a: packets reaching 'a' can never leave the chain: no link from it leads on to a port`), problems(spec).join('\n'))
  t.true(problems(spec).includes(`${FILE}: /endpoints/fw: packets reaching 'fw' can never leave the chain: no link from it leads on to a port`), problems(spec).join('\n'))
})

test('a link from a sink is valid, with a warning: a sink sends nothing', (t) => {
  const spec = base()
  spec.links.push('out -> fw')
  const chain = checkChain(FILE, spec)
  t.deepEqual(chain.warnings.filter((w) => w.path.startsWith('/links')), [{ path: '/links/2', message: `'out' sends nothing (a sink): this link never carries a packet` }])
  // A capture port only written is as silent.
  const written = base()
  written.endpoints.out = { kind: 'pcap', output: 'out.pcap' }
  written.links.push('out -> fw')
  t.deepEqual(checkChain(FILE, written).warnings.filter((w) => w.path.startsWith('/links')), [{ path: '/links/2', message: `'out' sends nothing (a pcap port with no input): this link never carries a packet` }])
})

test('more endpoints and instances than a region has slots for is refused up front', (t) => {
  const spec = base()
  spec.endpoints.fw = { kind: 'firewall', instances: 16 }
  spec.endpoints.nat = { kind: 'l2fwd', instances: 16 }
  spec.endpoints.l2 = { kind: 'l2fwd', instances: 16 }
  spec.endpoints.l3 = { kind: 'l2fwd', instances: 16 }
  spec.links = ['in -> fw', 'fw -> nat', 'nat -> l2', 'l2 -> l3', 'l3 -> out']
  t.deepEqual(problems(spec), [`${FILE}: /endpoints: 66 endpoints and NF instances in all; a chain holds at most 56`])
})

test('a file that is not JSON, or missing, says so', async (t) => {
  const dir = scratchDir('spec')
  writeFileSync(join(dir, 'broken.json'), '{ "endpoints": ')
  await t.throwsAsync(loadChain(join(dir, 'broken.json')), { instanceOf: SpecError, message: /broken\.json: \/: not valid JSON/ })
  // Where an editor finds the mistake: a missing comma before "links", line 5, column 3.
  writeFileSync(join(dir, 'comma.json'), '{\n  "endpoints": {\n    "a": { "kind": "sink" }\n  }\n  "links": []\n}\n')
  await t.throwsAsync(loadChain(join(dir, 'comma.json')), { instanceOf: SpecError, message: /comma\.json: \/: not valid JSON: .* at line 5, column 3$/ })
  await t.throwsAsync(loadChain(join(dir, 'missing.json')), { instanceOf: SpecError, message: /missing\.json: \/: cannot read the spec/ })
})

test('xio-chain validate exits 0 on the bundled chains and 1 with the errors otherwise', async (t) => {
  for (const name of ['fw-nat', 'l2fwd', 'firewall']) {
    const ok = await xioChain(['validate', `chains/${name}.json`])
    t.is(ok.code, 0, ok.stderr)
    t.regex(ok.stdout, new RegExp(`valid chain '${name}'`))
  }
  const dir = scratchDir('spec')
  const spec = base()
  spec.links[1] = 'fw -> outt'
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(spec))
  const bad = await xioChain(['validate', join(dir, 'bad.json')])
  t.is(bad.code, 1)
  t.is(bad.stderr.trim(), `${join(dir, 'bad.json')}: /links/1: no endpoint named 'outt' (did you mean 'out'?) (have: in, fw, out)`)
})

test('a router leg runs as several instances too, alone or in a group', (t) => {
  // ARP, which has no flow hash, reaches one of them; it copies what it learns to the others.
  t.deepEqual(problems({ endpoints: { in: { kind: 'pcap', input: 'in.pcap' }, r: { kind: 'router', instances: 3, config: { address: '10.0.0.1/24' } }, out: { kind: 'sink' } }, links: ['in -> r', 'r.wire -> out'] }), [])
  const grouped = {
    endpoints: { in: { kind: 'pcap', input: 'in.pcap' }, fw: { kind: 'firewall', group: 'g', instances: 2 }, r: { kind: 'router', group: 'g', instances: 2, config: { address: '10.0.0.1/24' } }, out: { kind: 'sink' } },
    links: ['in -> fw', 'fw -> r', 'r.wire -> out'],
  }
  t.deepEqual(problems(grouped), [])
})

test('a NAT spreads over instances, alone or in a group; validate refuses a range that leaves an instance no port of its own, naming the field', (t) => {
  const nat = (config: object, more: object) => ({ kind: 'nat', config: { external: '203.0.113.1', ...config }, ...more })
  const chain = (fw: object, n: object) => ({
    endpoints: { in: { kind: 'pcap', input: 'in.pcap' }, fw: { kind: 'firewall', ...fw }, nat: n, out: { kind: 'sink' } },
    links: ['in -> fw', 'fw -> nat', 'nat.outside -> out'],
  })
  t.deepEqual(problems(chain({}, nat({}, { instances: 4 }))), [])
  t.deepEqual(problems(chain({ group: 'g', instances: 2 }, nat({ inside: '10.0.0.0/8' }, { group: 'g', instances: 2 }))), [])
  const small = problems(chain({}, nat({ ports: [20000, 20002] }, { instances: 4 })))
  t.is(small.length, 1)
  t.true(small[0].startsWith(`${FILE}: /endpoints/nat/config/ports: 3 ports cannot be shared by 4 instances`), small[0])
  t.deepEqual(problems(chain({}, nat({ ports: [20000, 20002] }, {}))), [], 'one instance takes them all')
})

test('a placement group: its members must be linked to one another and have the same instances and CPUs; a port is in none', (t) => {
  const fw = { kind: 'firewall', config: { default: 'allow' } }
  const spec = (group: Record<string, unknown>, links: string[]) => ({
    endpoints: { in: { kind: 'pcap', input: 'in.pcap' }, a: { ...fw, group: 'g' }, b: { ...fw, ...group }, c: { ...fw, group: 'g' }, out: { kind: 'sink' } },
    links,
  })
  const chained = ['in -> a', 'a -> b', 'b -> c', 'c -> out']
  t.deepEqual(problems(spec({ group: 'g' }, chained)), [])
  t.deepEqual(checkChain(FILE, spec({ group: 'g' }, chained)).groups.get('g'), ['a', 'b', 'c'])
  // b outside the group: a and c are each other's only members, and not linked.
  t.deepEqual(problems(spec({}, chained)), [
    `${FILE}: /endpoints/c/group: 'c' is not linked to the rest of group 'g' (a): a group's members pass packets to one another, so they must be linked`,
  ])
  t.deepEqual(problems(spec({ group: 'g', instances: 2 }, chained)), [
    `${FILE}: /endpoints/b/instances: 2, but 'a' of group 'g' has 1 (the default): a group runs as one process per instance, so its members have the same instances`,
  ])
  // One process, one set of CPUs: given on any one member, or the same on several.
  t.deepEqual(problems(spec({ group: 'g', cpu: [1] }, chained)), [])
  const givenOnB = checkChain(FILE, spec({ group: 'g', cpu: [1] }, chained))
  t.deepEqual(nfCpuList(givenOnB, givenOnB.endpoints.get('a')!), { cpu: [1], givenBy: 'b' }, 'the group\'s process, started as a, runs where b says')
  const twoLists = spec({ group: 'g', cpu: [1] }, chained)
  ;(twoLists.endpoints.c as Record<string, unknown>).cpu = [0]
  t.deepEqual(problems(twoLists), [
    `${FILE}: /endpoints/c/cpu: [0], but 'b' of group 'g' gives [1]: a group's members run in one process, on one set of CPUs; give the list once, or the same on each`,
  ])
  ;(twoLists.endpoints.c as Record<string, unknown>).cpu = [1]
  t.deepEqual(problems(twoLists), [])
  const port = spec({ group: 'g' }, chained)
  ;(port.endpoints.out as Record<string, unknown>).group = 'g'
  t.deepEqual(problems(port), [`${FILE}: /endpoints/out/group: only NFs run in a placement group; a port runs in the launcher's process, a service in its application's`])
})

test('a group of one (a misspelt group name, most likely) is valid, with a warning that names the groups that have members', (t) => {
  const fw = { kind: 'firewall', config: { default: 'allow' } }
  const chain = checkChain(FILE, {
    endpoints: { in: { kind: 'pcap', input: 'in.pcap' }, a: { ...fw, group: 'edge' }, b: { ...fw, group: 'edge' }, c: { ...fw, group: 'egde' }, out: { kind: 'sink' } },
    links: ['in -> a', 'a -> b', 'b -> c', 'c -> out'],
  })
  t.deepEqual(chain.warnings, [{ path: '/endpoints/c/group', message: `group 'egde' has no other member: 'c' runs alone (groups with members: 'edge')` }])
})
