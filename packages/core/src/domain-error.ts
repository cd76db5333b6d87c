/** The closed set of reasons a domain operation refuses; `http/` maps each to a status. */
export type DomainErrorCode =
  | "not_found"
  | "conflict"
  | "invalid"
  | "forbidden"
  | "unauthorized"
  | "too_large"
  | "rate_limited"
  | "unavailable";

/** One problem with input, located by a JSON-pointer-like path (`/batch/3/event`). */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** The one error type core throws: a code, a message a person can act on, and details. */
export class DomainError extends Error {
  override readonly name = "DomainError";

  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** True when `error` is a DomainError, optionally with the given code. */
export function isDomainError(
  error: unknown,
  code?: DomainErrorCode,
): error is DomainError {
  return (
    error instanceof DomainError && (code === undefined || error.code === code)
  );
}
