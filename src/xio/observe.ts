// Read-only attachment for observers (the dashboard, tests, scripts): the region is mapped
// read-only, so nothing an observer does can reach the data path. Only read its views.
import { asXioError } from './errors.ts'
import { addon, type NativeRegion } from './native.ts'
import { RegionView } from './region-view.ts'

export interface Observer {
  readonly view: RegionView
  managerAlive(): boolean
  close(): void
}

export function observe(prefix: string): Observer {
  let native: NativeRegion
  try {
    native = addon.Region.attach(prefix, true)
  } catch (e) {
    throw asXioError(e)
  }
  return { view: new RegionView(prefix, native.buffer()), managerAlive: () => native.managerAlive(), close: () => native.close() }
}
