import type Type from "typebox";
import Value from "typebox/value";
import { ms } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { describeSchemaErrors } from "@herald/core/validation";

/**
 * What every provider webhook checks, whichever provider sent it: a body against the
 * TypeBox schema of the fields Herald reads (`invalid`, naming the path of every
 * problem), a signed timestamp not too far from now (`unauthorized`), and a credential
 * the workspace has not configured yet (`forbidden`).
 */

/** How far a signed timestamp may be from now before the request counts as a replay. */
const webhookToleranceMs = 5 * ms.minute;

/** Throws `invalid` unless `value` matches `schema`; paths start at `at`. */
export function checkBody<S extends Type.TSchema>(
  schema: S,
  value: unknown,
  at: string,
  what: string,
): Type.Static<S> {
  if (Value.Check(schema, value)) return value;
  const details = describeSchemaErrors(Value.Errors(schema, value), at);
  throw new DomainError(
    "invalid",
    `${what}: ${details[0]?.path} ${details[0]?.message}`,
    details,
  );
}

/** Throws `unauthorized` unless `seconds` is Unix seconds within 5 minutes of now. */
export function checkSignedTimestamp(
  provider: string,
  seconds: string,
  now: Date,
): void {
  const at = Number(seconds) * 1000;
  if (!/^\d{1,12}$/.test(seconds) || !Number.isFinite(at))
    throw new DomainError(
      "unauthorized",
      `the ${provider} timestamp ${JSON.stringify(seconds)} is not Unix seconds`,
    );
  if (Math.abs(now.getTime() - at) > webhookToleranceMs)
    throw new DomainError(
      "unauthorized",
      `the ${provider} timestamp is more than 5 minutes from now: an old request replayed, or a clock that is off`,
    );
}

/** The `forbidden` error of a provider whose webhook credential is not set yet. */
export function unconfiguredProvider(
  provider: string,
  setting: string,
): DomainError {
  return new DomainError(
    "forbidden",
    `${provider} webhooks are refused until the workspace sets ${setting}: PATCH /api/workspace/settings`,
  );
}
