// What a reload does to a running chain, decided from the two specs alone.
import test from 'ava'
import { checkChain } from '../../src/chain/spec.ts'
import { bypassed, describePlan, planIsEmpty, planReload, ReloadRefused } from '../../src/chain/reload-plan.ts'

const fw = (port: number) => ({ kind: 'firewall', config: { default: 'drop', nonIp: 'drop', rules: [{ action: 'allow', proto: 'tcp', dstPort: port }] } })
const base = {
  endpoints: {
    lan: { kind: 'generator', rate: 1000 },
    fw: fw(80),
    nat: { kind: 'nat', config: { external: '203.0.113.1', inside: '10.0.0.0/16' } },
    wan: { kind: 'sink' },
  },
  links: ['lan -> fw', 'fw -> nat', 'nat.outside -> wan'],
}
const chainOf = (spec: object) => checkChain('x.json', JSON.parse(JSON.stringify(spec)))
const running = chainOf(base)

test('the same spec changes nothing', (t) => {
  const plan = planReload(running, chainOf(base))
  t.true(planIsEmpty(plan))
  t.deepEqual(describePlan(plan), ['nothing to change'])
})

test('a changed NF config is taken live; nothing starts or stops', (t) => {
  const plan = planReload(running, chainOf({ ...base, endpoints: { ...base.endpoints, fw: fw(443) } }))
  t.deepEqual(plan.reconfigured, ['fw'])
  t.deepEqual([plan.added, plan.removed, plan.replaced, plan.routes], [[], [], [], []])
})

test('an NF put in a path starts; the gate it takes over is rewired; removing it again drains it and is a shortcut', (t) => {
  const withMid = chainOf({ ...base, endpoints: { ...base.endpoints, mid: { kind: 'l2fwd' } }, links: ['lan -> fw', 'fw -> mid', 'mid -> nat', 'nat.outside -> wan'] })
  const inserted = planReload(running, withMid)
  t.deepEqual(inserted.added, ['mid'])
  t.deepEqual(inserted.routes, [{ from: 'fw', gate: 0, to: 'mid' }])  // mid's own gate is wired as it starts
  t.deepEqual(inserted.rewired, ['fw'], 'fw is told once its gate leads to mid, to read where it leads')
  t.deepEqual(bypassed(running, withMid, inserted.routes[0]), [], 'a longer path: nothing to overtake')
  const removed = planReload(withMid, running)
  t.deepEqual(removed.removed, ['mid'])
  t.deepEqual(removed.routes, [{ from: 'fw', gate: 0, to: 'nat' }])
  t.deepEqual(bypassed(withMid, running, removed.routes[0]), ['mid'], 'packets still in mid could be overtaken')
})

test('an endpoint gone and another in its place: the new one starts, the gate moves to it, the old one drains', (t) => {
  const plan = planReload(running, chainOf({ ...base, endpoints: { ...base.endpoints, wan: undefined, out: { kind: 'sink' } }, links: ['lan -> fw', 'fw -> nat', 'nat.outside -> out'] }))
  t.deepEqual([plan.added, plan.removed], [['out'], ['wan']])
  t.deepEqual(plan.routes, [{ from: 'nat', gate: 1, to: 'out' }])  // outside is the NAT's second gate
  t.deepEqual(describePlan(plan), ['started: out', 'drained and stopped: wan', 'links rewired: 1'])
})

test('instances change live; a port whose settings change, or an NF whose kind changes, is restarted', (t) => {
  const plan = planReload(
    running,
    chainOf({
      endpoints: { ...base.endpoints, lan: { kind: 'generator', rate: 2000 }, fw: { ...fw(80), instances: 2 }, nat: { kind: 'l2fwd' } },
      links: ['lan -> fw', 'fw -> nat', 'nat -> wan'],
    }),
  )
  t.deepEqual(plan.rescaled, [{ name: 'fw', from: 1, to: 2 }])
  t.deepEqual(plan.replaced, ['lan', 'nat'])
  t.deepEqual(plan.reconfigured, [])
  t.deepEqual(describePlan(plan), ['restarted: lan (its port settings changed); nat (its kind changed: nat → l2fwd)', 'instances of fw: 1 → 2', 'links rewired: 2'])
})

test('a NAT\'s instance count is fixed while the chain runs (its instances share the ports by it): refused, naming the field and why', (t) => {
  const nat = (instances: number) => ({ kind: 'nat', instances, config: { external: '203.0.113.1', inside: '10.0.0.0/16' } })
  const spread = chainOf({ ...base, endpoints: { ...base.endpoints, nat: nat(2) } })
  const grow = t.throws(() => planReload(running, spread), { instanceOf: ReloadRefused })
  t.is(grow?.path, '/endpoints/nat/instances')
  t.regex(grow!.message, /^\/endpoints\/nat\/instances: 2, but it runs 1 and nat cannot change that while it runs: its instances share the external ports by their count/)
  t.throws(() => planReload(spread, running), { instanceOf: ReloadRefused, message: /instances: 1, but it runs 2/ })
  // So is a router leg's: its instances copy ARP to one another by it.
  const legs = (instances: number) => chainOf({
    endpoints: { lan: { kind: 'generator' }, r: { kind: 'router', instances, config: { address: '10.0.0.1/24' } }, wan: { kind: 'sink' } },
    links: ['lan -> r', 'r.wire -> wan'],
  })
  t.throws(() => planReload(legs(2), legs(3)), { instanceOf: ReloadRefused, message: /^\/endpoints\/r\/instances: 3, but it runs 2 and router cannot change that while it runs: its instances copy the ARP/ })
  // Its config still changes live at the same count.
  const other = chainOf({ ...base, endpoints: { ...base.endpoints, nat: { ...nat(2), config: { ...nat(2).config, ports: [30000, 39999] } } } })
  t.deepEqual(planReload(spread, other).reconfigured, ['nat'])
})

test('the pool and the manager settings cannot change while the chain runs: refused, naming the field', (t) => {
  const pool = t.throws(() => planReload(running, chainOf({ ...base, pool: { buffers: 4096 } })), { instanceOf: ReloadRefused })
  t.is(pool?.path, '/pool')
  const manager = t.throws(() => planReload(running, chainOf({ ...base, manager: { burst: 64 } })), { instanceOf: ReloadRefused })
  t.is(manager?.path, '/manager')
})

test('a spec that shares no endpoint with the running chain is another chain (a wrong --prefix): refused, naming what runs', (t) => {
  const other = chainOf({ endpoints: { in: { kind: 'generator' }, fwd: { kind: 'l2fwd' }, out: { kind: 'sink' } }, links: ['in -> fwd', 'fwd -> out'] })
  const refused = t.throws(() => planReload(running, other), { instanceOf: ReloadRefused })
  t.is(refused?.path, '/endpoints')
  t.regex(refused?.message ?? '', /none of them is one this chain runs \('x': lan, fw, nat, wan\): is this the chain you meant\?/)
  // One endpoint kept is enough: a reload may replace all the rest.
  const mostlyNew = chainOf({ endpoints: { lan: base.endpoints.lan, fwd: { kind: 'l2fwd' }, out: { kind: 'sink' } }, links: ['lan -> fwd', 'fwd -> out'] })
  t.deepEqual(planReload(running, mostlyNew).removed, ['fw', 'nat', 'wan'])
})

test('a placement group is fixed while the chain runs: a member joining or leaving is refused; a whole new group may come', (t) => {
  const grouped = chainOf({ ...base, endpoints: { ...base.endpoints, fw: { ...fw(80), group: 'edge' }, nat: { ...base.endpoints.nat, group: 'edge' } } })
  const left = t.throws(() => planReload(grouped, running), { instanceOf: ReloadRefused })
  t.is(left?.path, '/endpoints/fw/group')
  t.regex(left!.message, /^\/endpoints\/fw\/group: 'fw' would leave placement group 'edge'; placement groups are fixed while the chain runs/)
  t.throws(() => planReload(running, grouped), { message: /^\/endpoints\/fw\/group: 'fw' would join placement group 'edge';/ })
  // A member gone from the spec: no field of it to name; the group that would lose it, named.
  const withTag = chainOf({
    endpoints: { ...base.endpoints, fw: { ...fw(80), group: 'edge' }, tag: { kind: 'l2fwd', group: 'edge' }, nat: { ...base.endpoints.nat, group: 'edge' } },
    links: ['lan -> fw', 'fw -> tag', 'tag -> nat', 'nat.outside -> wan', 'nat.inside -> lan'],
  })
  const lost = t.throws(() => planReload(withTag, grouped), { instanceOf: ReloadRefused })
  t.is(lost?.message, "/endpoints: placement group 'edge' would lose its member 'tag', which the spec no longer has; placement groups are fixed while the chain runs (one process runs all of a group); stop the chain and run it again to change them")
  t.throws(() => planReload(grouped, withTag), { message: /^\/endpoints\/tag\/group: 'tag' would join placement group 'edge' \(fw, nat\);/ })
  const reordered = chainOf({ ...base, endpoints: { lan: base.endpoints.lan, nat: { ...base.endpoints.nat, group: 'edge' }, fw: { ...fw(80), group: 'edge' }, wan: base.endpoints.wan } })
  t.throws(() => planReload(grouped, reordered), { message: /^\/endpoints\/nat\/group: placement group 'edge' would run as its member 'nat' first, where it runs as 'fw'/ })
  t.deepEqual(planReload(grouped, chainOf({ ...base, endpoints: { ...base.endpoints, fw: { ...fw(443), group: 'edge' }, nat: { ...base.endpoints.nat, group: 'edge' } } })).reconfigured, ['fw'], 'a member\'s config changes live')
  const withNewGroup = chainOf({
    endpoints: { ...base.endpoints, a: { kind: 'l2fwd', group: 'pair' }, b: { kind: 'l2fwd', group: 'pair' } },
    links: ['lan -> fw', 'fw -> a', 'a -> b', 'b -> nat', 'nat.outside -> wan'],
  })
  t.deepEqual(planReload(running, withNewGroup).added, ['a', 'b'])
})

test('a placement group restarts whole when one of its members must restart, or the links between its members change; its exits rewire live', (t) => {
  const edge = (extra: Record<string, object> = {}, links = base.links, natExtra: object = {}) =>
    chainOf({ endpoints: { ...base.endpoints, fw: { ...fw(80), group: 'edge' }, nat: { ...base.endpoints.nat, group: 'edge', ...natExtra }, ...extra }, links })
  const grouped = edge()
  // The group's process is started by its first member: a restart of the second alone would
  // stop the process and start none.
  const moved = planReload(grouped, edge({}, base.links, { cpu: [1] }))
  t.deepEqual(moved.replaced.sort(), ['fw', 'nat'])
  t.is(describePlan(moved)[0], "restarted: fw (with nat: placement group 'edge' restarts whole); nat (its cpu changed)")
  // An NF put between two members: the call from fw to nat becomes a hop through ids, which
  // only a fresh process knows.
  const between = planReload(grouped, edge({ ids: fw(22) }, ['lan -> fw', 'fw -> ids', 'ids -> nat', 'nat.inside -> fw', 'nat.outside -> wan']))
  t.deepEqual(between.added, ['ids'])
  t.deepEqual(between.replaced.sort(), ['fw', 'nat'])
  t.is(between.restartedFor.get('nat'), "the links between the members of placement group 'edge' changed")
  t.deepEqual(between.reconfigured, [], 'a restarted member takes its new config as it starts')
  // A member's exit (through the manager either way) moves without a restart.
  const exit = planReload(grouped, edge({ dump: { kind: 'sink' } }, ['lan -> fw', 'fw -> nat', 'nat.outside -> dump', 'nat.inside -> wan']))
  t.deepEqual(exit.replaced, [])
  t.deepEqual(exit.routes.sort((a, b) => a.gate - b.gate), [{ from: 'nat', gate: 0, to: 'wan' }, { from: 'nat', gate: 1, to: 'dump' }])
})

test('an NF\'s link to itself is a call in its process: rewiring it restarts the NF', (t) => {
  const spec = (inside: string) => ({ ...base, links: [...base.links, `nat.inside -> ${inside}`] })
  t.deepEqual(planReload(chainOf(spec('nat')), chainOf(spec('fw'))).replaced, ['nat'])
  t.deepEqual(planReload(chainOf(spec('fw')), chainOf(spec('nat'))).replaced, ['nat'])
  t.deepEqual(planReload(chainOf(spec('fw')), chainOf(spec('wan'))).replaced, [], 'to another endpoint: a live rewire')
})

test('an NF module whose code is another version is restarted; the same version with a new config is reconfigured live', (t) => {
  const nf = { name: 'mine', gates: ['out'], create: () => ({ process: () => 0 }) }
  const spec = (limit: number) => ({ endpoints: { lan: { kind: 'generator' }, mine: { kind: 'nf', module: './mine.mjs', config: { limit } }, wan: { kind: 'sink' } }, links: ['lan -> mine', 'mine -> wan'] })
  const at = (version: string, limit = 1) =>
    checkChain('x.json', spec(limit), { nfConfigs: false, modules: new Map([['mine', { nf, file: '/x/mine.mjs', version }]]) })
  t.deepEqual(planReload(at('v1'), at('v2')).replaced, ['mine'])
  t.is(describePlan(planReload(at('v1'), at('v2')))[0], "restarted: mine (its module's code changed)")
  const live = planReload(at('v1'), at('v1', 2))
  t.deepEqual([live.replaced, live.reconfigured], [[], ['mine']])
})
