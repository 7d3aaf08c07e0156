// A byte view that throws on any read or write outside [at, at + length): proves a parser or
// rewrite stays inside the frame. Slow (a Proxy), for tests only.

export function guarded(bytes: Uint8Array, at: number, length: number): Uint8Array {
  return new Proxy(bytes, {
    get(t, k) {
      if (typeof k === 'string' && /^\d+$/.test(k)) {
        const i = Number(k)
        if (i < at || i >= at + length) throw new RangeError(`read at ${i} outside [${at}, ${at + length})`)
        return t[i]
      }
      const v = Reflect.get(t, k, t)
      return typeof v === 'function' ? v.bind(t) : v
    },
    set(t, k, v) {
      if (typeof k === 'string' && /^\d+$/.test(k)) {
        const i = Number(k)
        if (i < at || i >= at + length) throw new RangeError(`write at ${i} outside [${at}, ${at + length})`)
        t[i] = v
        return true
      }
      return Reflect.set(t, k, v, t)
    },
  })
}
