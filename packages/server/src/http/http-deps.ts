import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Clock } from "@herald/core/clock";
import type { ProfileStore } from "@herald/core/profiles/profiles";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics.ts";
import type { IngestWriter } from "../events/ingest-writer.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import type { MessagingSecrets } from "../messages/message-secrets.ts";
import type { SnsVerifier } from "../providers/sns-verifier.ts";
import type { FlowEngine } from "../flows/flow-engine.ts";
import type { KeyResolver } from "./auth.ts";

// The contract between the composition root and every route file: the app type routes
// register on and the dependencies they are given. It sits below all routes in the import
// graph (routes import it; it imports no route), so no route file depends on app.ts.

/** The Fastify instance with TypeBox schemas as its type provider. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the routes need, built once by the composition root. */
export interface HttpDeps {
  config: Readonly<Config>;
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  keys: KeyResolver;
  settings: SettingsCache;
  ingest: IngestWriter;
  profiles: ProfileStore;
  /** The flow engine, where this process runs flows (API triggers start runs with it). */
  flows?: FlowEngine;
  /** Delivery: the secrets that sign tracking links and webhook addresses, SNS signatures. */
  messaging: { secrets: MessagingSecrets; sns: SnsVerifier };
}
