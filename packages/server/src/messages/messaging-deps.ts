import type { Clock } from "@herald/core/clock";
import type { Database } from "../db/database.ts";
import type { Logger } from "../logger.ts";
import type { SnsVerifier } from "../providers/sns-verifier.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import type { MessagingSecrets } from "./message-secrets.ts";

/**
 * What the delivery use-cases need from the composition root: the HTTP dependencies
 * carry all of it, so a route passes its `deps` along.
 */
export interface MessagingDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  settings: SettingsCache;
  config: { readonly publicUrl: string };
  messaging: { secrets: MessagingSecrets; sns: SnsVerifier };
}
