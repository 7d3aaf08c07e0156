// Errors a user can cause, each with a stable code and a message that says what to do.

export type XioErrorCode =
  | 'NO_REGION'
  | 'PERMISSION'
  | 'NOT_A_REGION'
  | 'LAYOUT_VERSION'
  | 'MANAGER_GONE'
  | 'MANAGER_STALLED'
  | 'ALREADY_OWNED'
  | 'BAD_PREFIX'
  | 'BAD_CONFIG'
  | 'UNKNOWN_ENDPOINT'
  | 'NO_SLOT'
  | 'INSTANCE_TAKEN'
  | 'DETACHED'
  | 'FAULTED'
  | 'TOO_MANY_ENDPOINTS'
  | 'BAD_ROUTE'
  | 'NO_SPACE'
  | 'NO_INTERFACE'
  | 'MTU_TOO_LARGE'
  | 'CAPTURE_ONLY'
  | 'BAD_TAPS'
  | 'TOO_MANY_CAPTURES'
  | 'STATE_BUSY'
  | 'BAD_STATE'
  | 'SYSTEM'

export class XioError extends Error {
  constructor(readonly code: XioErrorCode, message: string) {
    super(message)
    this.name = 'XioError'
  }
}

/** Turns the addon's coded errors into XioError; anything else passes through. */
export function asXioError(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code
  if (e instanceof Error && !(e instanceof XioError) && typeof code === 'string')
    return new XioError(code as XioErrorCode, e.message)
  return e
}
