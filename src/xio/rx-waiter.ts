// Waiting for packets on several endpoints at once, off the event loop: one pool thread sleeps
// on all their wake words (futex_waitv), where readable() holds a thread per endpoint until
// it has work (libuv has four). For a process that pumps endpoints from its event loop, as
// the launcher does its ports: at rest it sleeps until the manager delivers, not polling.
import type { EndpointBase } from './endpoint-base.ts'
import { asXioError } from './errors.ts'
import { addon, type NativeRxWaiter } from './native.ts'

export class RxWaiter {
  /** Endpoints one wait takes at most: futex_waitv's 128 words, less the interrupt's. */
  static readonly MAX = 127
  private readonly native: NativeRxWaiter = new addon.RxWaiter()

  /**
   * True once one of the endpoints has packets waiting (or was detached or cut off meanwhile:
   * its own calls then say why), false after timeoutMs or an interrupt(). One wait at a time,
   * on at most RxWaiter.MAX endpoints; with none, a sleep that interrupt() cuts short.
   */
  async wait(endpoints: EndpointBase[], timeoutMs: number): Promise<boolean> {
    try {
      return await this.native.wait(endpoints.map((e) => e.waitable), timeoutMs)
    } catch (e) {
      throw asXioError(e)
    }
  }

  /** Ends the pending wait now (it resolves false); without one, does nothing. */
  interrupt(): void {
    this.native.interrupt()
  }
}
