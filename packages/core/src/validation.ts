import type Type from "typebox";
import Value from "typebox/value";
import { DomainError, type ErrorDetail } from "./domain-error.ts";

/** A schema validation error as TypeBox and Ajv report it. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params?: Record<string, unknown>;
  message?: string;
}

/**
 * Schema errors as details a person reads: one "must be one of: a, b, c" for a value
 * outside a union of literals or an enum (not one "must be equal to constant" per
 * literal), each problem once. `prefix` goes before every path (`/body`).
 */
export function describeSchemaErrors(
  errors: readonly SchemaError[],
  prefix = "",
): ErrorDetail[] {
  const allowed = new Map<string, unknown[]>();
  for (const e of errors) {
    const values =
      e.keyword === "const"
        ? [e.params?.allowedValue]
        : e.keyword === "enum" && Array.isArray(e.params?.allowedValues)
          ? (e.params.allowedValues as unknown[])
          : undefined;
    if (values)
      allowed.set(e.instancePath, [
        ...(allowed.get(e.instancePath) ?? []),
        ...values,
      ]);
  }
  const details: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const choices = allowed.get(e.instancePath);
    let message = e.message ?? "is invalid";
    // The union's own "must match a schema in anyOf" joins the list of its literals.
    if (choices && ["const", "enum", "anyOf"].includes(e.keyword))
      message = `must be one of: ${[...new Set(choices)].map(String).join(", ")}`;
    const path = `${prefix}${e.instancePath}` || "/";
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ path, message });
  }
  return details;
}

/** The problems `value` has against `schema`, located by path; empty when it is valid. */
export function findErrors(
  schema: Type.TSchema,
  value: unknown,
): ErrorDetail[] {
  if (Value.Check(schema, value)) return [];
  return describeSchemaErrors(Value.Errors(schema, value));
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
