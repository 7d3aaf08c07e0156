// What the launcher and a running NF process say to each other after its start: a reload's
// new config goes down its stdin as one JSON line, and the answer comes back on its stdout as
// one line, once the NF runs on it or has refused it. And at its start, whose death ends it.
import { NFConfigError } from '../xio/nf-types.ts'

/** The environment variable that gives an NF process its launcher's pid: it dies with it. */
export const LAUNCHER_PID_ENV = 'XIO_LAUNCHER_PID'

/** A new config for one NF of a running process (a group runs several); seq pairs it with its answer. */
export interface NfReconfigure {
  seq: number
  member: string
  config: unknown
  /** Only where its gates lead changed, not its config (PendingConfig.rewired). */
  rewired?: boolean
}

/** The answer: ok, or why the NF refused (path: the field of its config, when it named one). */
export interface NfReconfigured {
  seq: number
  ok: boolean
  path?: string
  message?: string
}

const TAG = 'reconfigured '

export function reconfigureReply(seq: number, error?: unknown): string {
  const answer: NfReconfigured = { seq, ok: error === undefined }
  if (error instanceof NFConfigError) {
    answer.path = error.path
    answer.message = error.message.slice(error.path.length + 2)
  } else if (error !== undefined) answer.message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return `${TAG}${JSON.stringify(answer)}\n`
}

/** The answers in a line of an NF's stdout (other lines, such as `ready`, are not). */
export function parseReconfigured(line: string): NfReconfigured | undefined {
  return line.startsWith(TAG) ? (JSON.parse(line.slice(TAG.length)) as NfReconfigured) : undefined
}
