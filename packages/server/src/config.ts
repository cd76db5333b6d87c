import path from "node:path";
import Type from "typebox";
import Value from "typebox/value";

/**
 * Herald's configuration, parsed once from the environment into a frozen object that is
 * passed down. Nothing else reads `process.env`.
 */

const Env = Type.Object({
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  HERALD_DATA_DIR: Type.String({ minLength: 1, default: "./.herald" }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HERALD_HOST: Type.String({ minLength: 1, default: "0.0.0.0" }),
  HERALD_PUBLIC_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  HERALD_TIME_SCALE: Type.Number({ exclusiveMinimum: 0, default: 1 }),
  HERALD_LOG_LEVEL: Type.Union(
    ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) =>
      Type.Literal(l),
    ),
    { default: "info" },
  ),
  HERALD_DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  HERALD_SMTP_URL: Type.Optional(Type.String({ pattern: "^smtps?://" })),
  HERALD_TEMPLATE_THREADS: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 64 }),
  ),
  HERALD_TEMPLATE_MEMORY_MB: Type.Integer({
    minimum: 64,
    maximum: 16_384,
    default: 512,
  }),
});

/** Which parts of Herald a process runs. */
export type Role = "all" | "api" | "worker";

/** The parsed configuration. */
export interface Config {
  /** PostgreSQL server URL; absent means the embedded database in `dataDir`. */
  databaseUrl: string | undefined;
  /** Absolute path of the embedded database's directory. */
  dataDir: string;
  port: number;
  host: string;
  /** Base URL shoppers and mail clients reach this server at (links, pixels). */
  publicUrl: string;
  /** How many times faster than the wall clock the server's clock runs. */
  timeScale: number;
  logLevel: string;
  dbPoolSize: number;
  role: Role;
  /** SMTP server for workspaces that configure none; unset keeps email in the outbox. */
  smtpUrl: string | undefined;
  /**
   * Threads that compile and render templates (unset: one core fewer than the machine
   * has, 1 to 4), and the heap each may use (MB).
   */
  templateThreads: number | undefined;
  templateMemoryMb: number;
}

/** Thrown when the environment cannot be parsed; its message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Parses `env` (usually `process.env`) and applies `overrides` from the command line. */
export function parseConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Pick<Config, "port" | "role" | "dataDir">> = {},
): Readonly<Config> {
  const known = Object.fromEntries(
    Object.keys(Env.properties)
      .filter((name) => env[name] !== undefined && env[name] !== "")
      .map((name) => [name, env[name]]),
  );
  const value = Value.Convert(Env, Value.Default(Env, known));
  if (!Value.Check(Env, value)) {
    const problems = Value.Errors(Env, value).map(
      (e) => `${e.instancePath.slice(1) || "environment"} ${e.message}`,
    );
    throw new ConfigError(`invalid environment: ${problems.join("; ")}`);
  }
  const port = overrides.port ?? value.PORT;
  return Object.freeze({
    databaseUrl: value.DATABASE_URL,
    dataDir: path.resolve(overrides.dataDir ?? value.HERALD_DATA_DIR),
    port,
    host: value.HERALD_HOST,
    publicUrl: (value.HERALD_PUBLIC_URL ?? `http://localhost:${port}`).replace(
      /\/+$/,
      "",
    ),
    timeScale: value.HERALD_TIME_SCALE,
    logLevel: value.HERALD_LOG_LEVEL,
    dbPoolSize: value.HERALD_DB_POOL_SIZE,
    role: overrides.role ?? "all",
    smtpUrl: value.HERALD_SMTP_URL,
    templateThreads: value.HERALD_TEMPLATE_THREADS,
    templateMemoryMb: value.HERALD_TEMPLATE_MEMORY_MB,
  });
}
