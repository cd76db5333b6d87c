import type { FastifyReply, FastifyRequest } from "fastify";
import { DomainError } from "@herald/core/domain-error";
import { findUnstorable, storableLimits } from "@herald/core/storable";
import type { App } from "./http-deps.ts";
import { maxParamLength } from "./errors.ts";

/**
 * Bounds on what the admin API reads, so that input PostgreSQL cannot store (or cannot
 * index) is a 400 naming the field instead of a 500 from the database: every string a
 * route's schema declares gets a length limit unless it states its own, and every body,
 * query and path parameter is checked for NUL characters, lone surrogates, numbers past
 * ±1.8e308 (`limit=1e309`), over-deep nesting and over-long keys.
 */

/** The default lengths of declared strings, and the bound on any string at all. */
export const inputLimits = {
  /** A path parameter (the router refuses longer ones). */
  param: maxParamLength,
  /** A query parameter. */
  query: 1_000,
  /** A string field of a body (a name, an id, a key: it may be indexed). */
  field: 500,
  /** Any string of a body, declared or not (a template's HTML). */
  text: 256 * 1024,
  depth: storableLimits.depth,
} as const;

/** The highest version number (of a template or flow) storage keeps: an integer column. */
export const maxVersion = 2_147_483_647;

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A copy of `schema` in which every string without its own `maxLength` (or an enum,
 * const or format that bounds it) has `maxLength`.
 */
export function withStringLimits(schema: unknown, maxLength: number): unknown {
  if (Array.isArray(schema))
    return schema.map((s) => withStringLimits(s, maxLength));
  if (!isSchema(schema)) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === "properties" || key === "patternProperties" || key === "$defs"
        ? isSchema(value)
          ? Object.fromEntries(
              Object.entries(value).map(([k, v]) => [
                k,
                withStringLimits(v, maxLength),
              ]),
            )
          : value
        : key === "enum" || key === "const" || key === "default"
          ? value
          : withStringLimits(value, maxLength);
  }
  if (
    out.type === "string" &&
    out.maxLength === undefined &&
    out.enum === undefined &&
    out.const === undefined &&
    out.format === undefined
  )
    out.maxLength = maxLength;
  return out;
}

/** Refuses a request holding what cannot be stored; runs after schema validation. */
async function refuseUnstorable(request: FastifyRequest, _reply: FastifyReply) {
  for (const [part, value, maxStringLength] of [
    ["params", request.params, inputLimits.param],
    ["querystring", request.query, inputLimits.query],
    ["body", request.body, inputLimits.text],
  ] as const) {
    if (value === undefined || value === null) continue;
    const problem = findUnstorable(value, {
      path: `/${part}`,
      maxStringLength,
      maxDepth: inputLimits.depth,
    });
    if (problem)
      throw new DomainError(
        "invalid",
        `invalid request: ${problem.path} ${problem.message}`,
        [problem],
      );
  }
}

/**
 * Applies the limits to the routes registered on `app` from now on: string lengths on
 * their schemas, and the check of what they read before their handler runs.
 */
export function registerInputLimits(app: App): void {
  app.addHook("onRoute", (route) => {
    const schema = route.schema;
    if (!schema) return;
    route.schema = {
      ...schema,
      ...(schema.params
        ? { params: withStringLimits(schema.params, inputLimits.param) }
        : {}),
      ...(schema.querystring
        ? {
            querystring: withStringLimits(
              schema.querystring,
              inputLimits.query,
            ),
          }
        : {}),
      ...(schema.body
        ? { body: withStringLimits(schema.body, inputLimits.field) }
        : {}),
    };
  });
  app.addHook("preHandler", refuseUnstorable);
}
