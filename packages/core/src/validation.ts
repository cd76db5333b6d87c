import type Type from "typebox";
import Value from "typebox/value";
import { DomainError, type ErrorDetail } from "./domain-error.ts";

/** The problems `value` has against `schema`, located by path; empty when it is valid. */
export function findErrors(
  schema: Type.TSchema,
  value: unknown,
): ErrorDetail[] {
  if (Value.Check(schema, value)) return [];
  return Value.Errors(schema, value).map((error) => ({
    path: error.instancePath === "" ? "/" : error.instancePath,
    message: error.message,
  }));
}

/**
 * Checks `value` against `schema` and returns it typed, or throws an `invalid`
 * DomainError that names `what` and lists every problem with its path.
 */
export function parseWith<S extends Type.TSchema>(
  schema: S,
  value: unknown,
  what: string,
): Type.Static<S> {
  const errors = findErrors(schema, value);
  if (errors.length > 0) {
    const first = errors[0];
    throw new DomainError(
      "invalid",
      `${what} is invalid: ${first?.path} ${first?.message}`,
      errors,
    );
  }
  return value as Type.Static<S>;
}
