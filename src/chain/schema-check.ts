// JSON Schema checking with ajv, as every config is checked: the chain spec against the chain
// schema, an NF's config against the NF's own (at validate and run, and in the test harness,
// so a config a chain refuses is refused in tests too). One message per offending field.
import { createRequire } from 'node:module'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { didYouMean } from './suggest.ts'

const require = createRequire(import.meta.url)
const Ajv = require('ajv') as typeof import('ajv').default
const ajvErrors = require('ajv-errors') as (ajv: InstanceType<typeof Ajv>) => void

export interface Problem {
  /** JSON pointer of the offending field, e.g. /endpoints/fw/config/rules/2/dstPort */
  path: string
  message: string
}

let ajvInstance: InstanceType<typeof Ajv> | undefined
function ajv(): InstanceType<typeof Ajv> {
  if (!ajvInstance) {
    // verbose: each error carries its schema and data, so a misspelt field or kind can be
    // answered with the nearest known one.
    ajvInstance = new Ajv({ allErrors: true, discriminator: true, strict: false, verbose: true })
    ajvErrors(ajvInstance)
  }
  return ajvInstance
}

/** Compiles a schema; throws if it is not a valid JSON Schema. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  return ajv().compile(schema)
}

/** An NF's config validator, compiled once per schema object; throws if the schema is invalid. */
const configValidators = new WeakMap<object, ValidateFunction>()
export function configValidator(schema: Record<string, unknown>): ValidateFunction {
  let v = configValidators.get(schema)
  if (!v) {
    v = compileSchema(schema)
    configValidators.set(schema, v)
  }
  return v
}

// One message per offending field, in the words of the schema's errorMessage where it has one.
export function schemaProblems(errors: ErrorObject[]): Problem[] {
  const byPath = new Map<string, string>()
  for (const e of errors) {
    let path = e.instancePath
    let message = e.message ?? 'is invalid'
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty
      message = extra === 'group' && /^\/endpoints\/[^/]+$/.test(path)
        ? 'only NFs run in a placement group; a port runs in the launcher\'s process, a service in its application\'s'
        : `unknown field '${extra}'${didYouMean(extra, Object.keys((e.parentSchema?.properties as object | undefined) ?? {}))}`
      path = `${path}/${extra}`
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty
      path = `${path}/${missing}`
      message = 'is required'
    } else if (e.keyword === 'errorMessage' && (e.params as { errors?: ErrorObject[] }).errors?.some((x) => x.keyword === 'discriminator')) {
      // A kind no branch of a discriminated union has: said at the kind, with what it says.
      const tag = (e.parentSchema as { discriminator?: { propertyName?: string } } | undefined)?.discriminator?.propertyName
      const said = tag ? (e.data as Record<string, unknown> | undefined)?.[tag] : undefined
      if (tag && typeof said === 'string') {
        path = `${path}/${tag}`
        const kinds = /one of (.*)$/.exec(message)?.[1]?.split(', ') ?? []
        message = `${message}, not '${said}'${didYouMean(said, kinds)}`
      }
    } else if (e.keyword === 'propertyNames' || (e.keyword === 'errorMessage' && e.params && (e.params as { errors?: ErrorObject[] }).errors?.some((x) => x.propertyName))) {
      const name = (e.params as { propertyName?: string; errors?: ErrorObject[] }).propertyName ??
        (e.params as { errors?: ErrorObject[] }).errors?.find((x) => x.propertyName)?.propertyName
      if (name) path = `${path}/${name}`
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    } else if (e.keyword === 'const') {
      continue // the discriminator's own message covers a wrong kind
    }
    if (!byPath.has(path)) byPath.set(path, message)
  }
  return [...byPath].map(([path, message]) => ({ path, message }))
}
