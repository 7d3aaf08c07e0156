// Each schema is the one source of its types: what is committed (the composed chain schema
// editors read, the spec's types, each built-in NF's config type) must be exactly what
// `npm run schema:types` writes today.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { root } from '../helpers/cli.ts'
import { generatedFiles } from '../../scripts/schema-types.ts'

test('chains/chain.schema.json and the generated types are what npm run schema:types writes', async (t) => {
  const files = await generatedFiles()
  t.true(files.size >= 6)
  for (const [file, text] of files) t.is(readFileSync(`${root}${file}`, 'utf8'), text, `${file}: run \`npm run schema:types\` and commit the result`)
})
