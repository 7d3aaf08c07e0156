// JSON Schemas that speak of addresses, ports and protocols refer to the shared definitions
// of types.schema.json (`{ "$ref": "#/definitions/Mac" }`). bundle() makes such a schema whole:
// it adds the definitions it refers to, and theirs, so it validates on its own (an NF's
// config schema in an editor, in ajv, in json-schema-to-typescript) and composes into the
// chain schema without a second copy of any of them.
import types from './types.schema.json' with { type: 'json' }

export type JsonSchema = Record<string, unknown>

const shared = types.definitions as Record<string, JsonSchema>

/** The names a schema refers to by `#/definitions/<name>`. */
export function definitionRefs(schema: unknown): Set<string> {
  const names = new Set<string>()
  for (const [, name] of JSON.stringify(schema).matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g)) names.add(name)
  return names
}

/** The schema with every shared definition it refers to (directly or through another) added. */
export function bundle<S extends JsonSchema>(schema: S): S {
  const own = (schema.definitions ?? {}) as Record<string, JsonSchema>
  const added: Record<string, JsonSchema> = {}
  const todo = [...definitionRefs(schema)]
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (name in own || name in added) continue
    const definition = shared[name]
    if (!definition) throw new Error(`a schema refers to #/definitions/${name}, which neither it nor the shared types define`)
    added[name] = definition
    todo.push(...definitionRefs(definition))
  }
  return Object.keys(added).length ? { ...schema, definitions: { ...own, ...added } } : schema
}
