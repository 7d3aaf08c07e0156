export { attach, Xio, type AttachOptions } from './xio.ts'
export { Manager, type CreateOptions } from './manager.ts'
export { observe, type Observer } from './observe.ts'
export { XioError, type XioErrorCode } from './errors.ts'
export { layout, type RegionOptions, type ManagerOptions } from './native.ts'
export * from './region-view.ts'
export * from './nf-types.ts'

import { addon } from './native.ts'
/** Pins this whole process to the given CPUs (the launcher places NFs away from the manager). */
export const setAffinity = (cpus: number[]): void => addon.setAffinity(cpus)
export { createNF, defineNF, runNF, nfEnv, type RunOptions } from './nf.ts'
