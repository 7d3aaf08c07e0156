// The chain schema is the one source of truth: the committed TypeScript types must be exactly
// what `npm run schema:types` generates from it today.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { compileFromFile } from 'json-schema-to-typescript'
import { root } from '../helpers/cli.ts'

test('src/chain/spec-types.ts is generated from chains/chain.schema.json and up to date', async (t) => {
  const generated = await compileFromFile(`${root}chains/chain.schema.json`, {
    unreachableDefinitions: true,
    bannerComment: '// Generated from chains/chain.schema.json by npm run schema:types. Do not edit.',
    cwd: `${root}chains`,
  })
  const committed = readFileSync(`${root}src/chain/spec-types.ts`, 'utf8')
  t.is(committed, generated, 'run `npm run schema:types` and commit the result')
})
