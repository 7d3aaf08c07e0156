// The spec's "service" endpoint: a name an application attaches to itself (xio-chain/net). A
// chain may consist of services alone, with no links (they reach each other by name), and the
// launcher starts nothing for them.
import test from 'ava'
import { checkChain, SpecError } from '../../src/chain/spec.ts'

test('a chain of services alone, unlinked, is valid; each is declared and is no NF', (t) => {
  const chain = checkChain('services.json', { endpoints: { api: { kind: 'service' }, web: { kind: 'service' } }, links: [] })
  t.deepEqual([...chain.endpoints.keys()], ['api', 'web'])
  for (const e of chain.endpoints.values()) {
    t.is(e.kind, 'service')
    t.is(e.instances, 1)
    t.is(e.nf, undefined)
  }
})

test('a service takes no settings: anything else is refused naming the field', (t) => {
  const e = t.throws(() => checkChain('bad.json', { endpoints: { api: { kind: 'service', module: './x.ts' } }, links: [] }), { instanceOf: SpecError })
  t.regex(e!.message, /bad\.json: \/endpoints\/api/)
})
