// npm run schema:types: writes what the schemas generate, so no type is written twice.
//   chains/chain.schema.json        the chain schema composed with every built-in NF's (for editors)
//   src/chain/spec-types.ts         the spec's own types, from src/chain/spec.schema.json
//   src/nfs/<nf>/config-types.ts    each built-in NF's config type, from its config.schema.json
// A test checks that what is committed is what this writes.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compile } from 'json-schema-to-typescript'
import { builtinNFs } from '../src/nfs/index.ts'
import { chainSchema, configTypeName } from '../src/chain/schema.ts'
import { bundle, type JsonSchema } from '../src/packet/schema.ts'
import { formatJson } from './json-format.ts'

const root = fileURLToPath(new URL('../', import.meta.url))

async function types(schemaFile: string, name: string): Promise<string> {
  const schema = bundle(JSON.parse(readFileSync(join(root, schemaFile), 'utf8')) as JsonSchema)
  return compile(schema, name, {
    unreachableDefinitions: true,
    bannerComment: `// Generated from ${schemaFile} by npm run schema:types. Do not edit.`,
  })
}

/** Every generated file and its text, by path relative to the repository. */
export async function generatedFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  files.set('chains/chain.schema.json', `${formatJson(chainSchema(builtinNFs))}\n`)
  files.set('src/chain/spec-types.ts', await types('src/chain/spec.schema.json', 'ChainSpec'))
  for (const kind of Object.keys(builtinNFs)) {
    const schemaFile = `src/nfs/${kind}/config.schema.json`
    files.set(join(dirname(schemaFile), 'config-types.ts'), await types(schemaFile, configTypeName(kind)))
  }
  return files
}

if (process.argv[1] && basename(process.argv[1]) === 'schema-types.ts') {
  for (const [file, text] of await generatedFiles()) {
    writeFileSync(join(root, file), text)
    console.log(`wrote ${relative(process.cwd(), join(root, file)) || file}`)
  }
}
