// Where a socket lives: a chain (its prefix), a service of that chain (the address: an endpoint
// name the spec declares, kind "service") and a port (any number a listener picks, 0 by
// default). Node's `host` is taken for the address and XIO_PREFIX / XIO_SERVICE from the
// environment fill in what code written for `net` does not say, so it ports by its import.
export interface XioAddress {
  /** The chain's prefix (/dev/shm/xio.<prefix>); default: $XIO_PREFIX. */
  prefix?: string
  /** The service to reach or to listen as; `host` means the same. */
  address?: string
  host?: string
  port?: number
}

export interface ResolvedAddress {
  prefix: string
  address: string
  port: number
}

export function resolveAddress(options: XioAddress, what: string, defaultAddress?: string): ResolvedAddress {
  const prefix = options.prefix ?? process.env.XIO_PREFIX
  const address = options.address ?? options.host ?? defaultAddress
  const port = options.port ?? 0
  if (!prefix) throw new TypeError(`${what}: no prefix (give { prefix } or set XIO_PREFIX to the chain's prefix)`)
  if (!address) throw new TypeError(`${what}: no address (give { address: <service> }, the chain's service name)`)
  if (!Number.isInteger(Number(port)) || Number(port) < 0 || Number(port) > 65535) throw new RangeError(`${what}: port must be an integer from 0 to 65535, got ${port}`)
  return { prefix, address, port: Number(port) }
}

/**
 * The service a dialling process attaches as: localAddress if given, else the endpoint it has
 * on the chain already (a server that also dials), else $XIO_SERVICE; undefined if none.
 */
export function localService(options: { localAddress?: string }, attached: boolean): string | undefined {
  return options.localAddress ?? (attached ? undefined : process.env.XIO_SERVICE)
}
