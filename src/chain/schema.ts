// The chain schema, composed: the spec's own part (spec.schema.json: pool, manager, ports,
// module endpoints, links) and, for every built-in NF, an endpoint of its kind whose config
// is the NF's own schema. The validator uses it; chains/chain.schema.json is the same thing
// written out for editors (`npm run schema:types`; a test keeps the two equal).
import base from './spec.schema.json' with { type: 'json' }
import { bundle, type JsonSchema } from '../packet/schema.ts'
import type { NFModule } from '../xio/nf-types.ts'

/** The definition name of a kind's config and endpoint: nat → NatConfig, NatEndpoint. */
function pascal(kind: string): string {
  return kind.replace(/(^|[-_])([a-z0-9])/g, (_, _sep: string, c: string) => c.toUpperCase())
}

/** The name an NF's config type goes by, in the chain schema and in its generated types. */
export function configTypeName(kind: string): string {
  return `${pascal(kind)}Config`
}

function addDefinition(definitions: Record<string, JsonSchema>, name: string, definition: JsonSchema, owner: string): void {
  const existing = definitions[name]
  if (existing && JSON.stringify(existing) !== JSON.stringify(definition))
    throw new Error(`${owner}'s schema defines ${name} differently from another's: give one of them another name`)
  definitions[name] = definition
}

/** The whole chain schema, with an endpoint kind per built-in NF. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function chainSchema(builtins: Record<string, NFModule<any>>): JsonSchema {
  const spec = structuredClone(base) as JsonSchema & { definitions: Record<string, JsonSchema> }
  const { NfEndpoint: template, ...own } = spec.definitions
  const definitions: Record<string, JsonSchema> = {}
  const endpointRefs: JsonSchema[] = []
  for (const [kind, nf] of Object.entries(builtins)) {
    const { definitions: nfDefinitions = {}, $schema: _, ...config } = bundle(nf.config ?? { type: 'object' }) as JsonSchema & { definitions?: Record<string, JsonSchema> }
    const configName = configTypeName(kind)
    const properties = template.properties as Record<string, JsonSchema>
    // A config with required fields must be there at all: `/endpoints/nat/config: is required`.
    const needsConfig = Array.isArray(config.required) && config.required.length > 0
    addDefinition(definitions, `${pascal(kind)}Endpoint`, {
      ...template,
      ...(needsConfig && { required: [...(template.required as string[]), 'config'] }),
      description: config.description,
      properties: { ...properties, kind: { const: kind }, config: { $ref: `#/definitions/${configName}` } },
    }, kind)
    addDefinition(definitions, configName, config, kind)
    for (const [name, definition] of Object.entries(nfDefinitions)) addDefinition(definitions, name, definition, kind)
    endpointRefs.push({ $ref: `#/definitions/${pascal(kind)}Endpoint` })
  }
  const endpoint = own.Endpoint as { oneOf: JsonSchema[]; errorMessage: { discriminator: string } }
  const others = endpoint.oneOf.filter((e) => e.$ref !== '#/definitions/NfEndpoint')
  const kinds = [...Object.keys(builtins), ...others.map((e) => kindOf(own, e))]
  own.Endpoint = {
    ...endpoint,
    oneOf: [...endpointRefs, ...others],
    errorMessage: { discriminator: endpoint.errorMessage.discriminator.replace('{kinds}', kinds.join(', ')) },
  }
  const { $comment: _comment, ...whole } = bundle({ ...spec, definitions: { ...own, ...definitions } }) as JsonSchema
  return whole
}

function kindOf(definitions: Record<string, JsonSchema>, ref: JsonSchema): string {
  const name = String(ref.$ref).replace('#/definitions/', '')
  return String(((definitions[name].properties as Record<string, { const?: string }>).kind).const)
}
