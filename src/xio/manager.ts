// The manager's side: the process that runs a chain creates the region, declares its
// endpoints and routes, and runs the native manager thread that moves descriptors.
import { asXioError, XioError } from './errors.ts'
import { addon, layout, type ManagerOptions, type NativeRegion, type RegionOptions } from './native.ts'
import { RegionView, type RegionSnapshot } from './region-view.ts'

export interface CreateOptions extends RegionOptions {
  prefix: string
}

// The regions whose manager runs in this process (this thread's), by prefix: an endpoint
// attached here to one of them waits by making the manager's passes where that helps (managerHere).
const managersHere = new Map<string, NativeRegion>()

/** The assistId of prefix's manager if it runs in this process, else -1 (see addon.assistManager). */
export function managerHere(prefix: string): number {
  return managersHere.get(prefix)?.assistId() ?? -1
}

export class Manager {
  readonly region: RegionView

  private constructor(readonly prefix: string, private readonly native: NativeRegion) {
    this.region = new RegionView(prefix, native.buffer())
  }

  /** Creates /dev/shm/xio.<prefix>; replaces one left by a dead manager, refuses a live one's. */
  static create(options: CreateOptions): Manager {
    try {
      const native = addon.Region.create(options.prefix, options)
      const manager = new Manager(options.prefix, native)
      managersHere.set(options.prefix, native)
      return manager
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** The native region handle, for endpoints attached from this same process. */
  get handle(): NativeRegion {
    return this.native
  }

  /** Declares an endpoint name; returns its id. NFs and ports attach by declared names only. */
  declare(name: string): number {
    if (!name || new TextEncoder().encode(name).length >= layout.nameLength)
      throw new XioError('BAD_CONFIG', `endpoint name '${name}' must be 1 to ${layout.nameLength - 1} bytes`)
    try {
      return this.native.declare(name)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** Wires gate `gate` of endpoint `from` to endpoint `to` (null: unwire). Takes effect at once. */
  route(from: string, gate: number, to: string | null): void {
    const fromId = this.id(from)
    const toId = to === null ? null : this.id(to)
    try {
      this.native.route(fromId, gate, toId)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /**
   * Rewires many gates at once: the manager applies them together between two polls, so no
   * packet is routed by part of the change (a reload). Returns once they are in force.
   */
  routes(changes: { from: string; gate: number; to: string | null }[]): void {
    const triples = changes.map((c): [number, number, number | null] => [this.id(c.from), c.gate, c.to === null ? null : this.id(c.to)])
    try {
      this.native.routes(triples)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /**
   * Holds gates shut: what their endpoints send to them waits in the manager, in order (as for
   * a full receiver), until routes() wires them again. A reload uses it so that packets on a
   * new, shorter path cannot overtake older ones still on the old.
   */
  pause(gates: { from: string; gate: number }[]): void {
    try {
      this.native.routes(gates.map((g): [number, number, number] => [this.id(g.from), g.gate, layout.pausedRoute]))
    } catch (e) {
      throw asXioError(e)
    }
  }

  id(name: string): number {
    const id = this.region.serviceId(name)
    if (id < 0) throw new XioError('UNKNOWN_ENDPOINT', `no endpoint named '${name}' has been declared on prefix '${this.prefix}'`)
    return id
  }

  start(options: ManagerOptions = {}): void {
    this.native.startManager(options)
  }

  stop(): void {
    this.native.stopManager()
  }

  /** Records the spec file the chain now runs (a reload's), which observers read names from. */
  recordChainFile(path: string): void {
    this.native.recordChainFile(path)
  }

  snapshot(): RegionSnapshot {
    return this.region.snapshot()
  }

  /** Stops the manager and removes the region's name; endpoints still attached see MANAGER_GONE. */
  close(): void {
    if (managersHere.get(this.prefix) === this.native) managersHere.delete(this.prefix)
    this.native.close()
  }
}
