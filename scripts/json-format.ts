// JSON as people write schemas: an object or list that fits on its line stays on one line, the
// rest is indented by two. Used for the schema files, hand-written and generated alike.
const WIDTH = 110

/** `column`: where on its line the value starts (after its indent and key). */
export function formatJson(value: unknown, indent = '', column = indent.length): string {
  const flat = JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ').replace(/\[ /g, '[').replace(/ \]/g, ']')
  if (column + flat.length <= WIDTH || value === null || typeof value !== 'object') return flat
  const inner = `${indent}  `
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`
  const entries = Object.entries(value).map(([k, v]) => {
    const key = `${inner}${JSON.stringify(k)}: `
    return key + formatJson(v, inner, key.length)
  })
  return `{\n${entries.join(',\n')}\n${indent}}`
}
