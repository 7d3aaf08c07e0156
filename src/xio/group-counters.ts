// How a placement group's process publishes its NFs' counters in its one slot: each under
// `@<endpoint>/<name>`, so observers (the dashboard, metrics, a replay's summary) give each
// counter to its own endpoint under its own name, as if each NF had its own slot.

const PREFIX = '@'

/** A group member's counter as the group's slot holds it. */
export function groupCounterName(member: string, name: string): string {
  return `${PREFIX}${member}/${name}`
}

/**
 * A slot's NF counters by endpoint: all of them the slot's own (`slotName`'s), or, for a
 * group's slot, each member's.
 */
export function countersByEndpoint(slotName: string, counters: Record<string, number>): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>()
  for (const [key, value] of Object.entries(counters)) {
    const slash = key.startsWith(PREFIX) ? key.indexOf('/') : -1
    const endpoint = slash > 0 ? key.slice(1, slash) : slotName
    const name = slash > 0 ? key.slice(slash + 1) : key
    let own = out.get(endpoint)
    if (!own) out.set(endpoint, (own = {}))
    own[name] = value
  }
  return out
}
