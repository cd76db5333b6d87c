import path from "node:path";
import type { Clock } from "@herald/core/clock";
import {
  createWorkspace,
  type NewWorkspace,
} from "@herald/core/workspaces/workspaces";
import { startControlServer } from "./operations/control.ts";
import { runOperation } from "./operations/operations.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/database.ts";
import { DataDirLock } from "./db/data-dir-lock.ts";
import { migrate } from "./db/migrate.ts";
import { openPglite } from "./db/pglite.ts";
import { openPostgres } from "./db/postgres.ts";
import {
  insertFirstWorkspace,
  workspaceStore,
} from "./workspaces/workspaces.sql.ts";
import { KeyResolver } from "./http/auth.ts";
import { buildApp } from "./http/app.ts";
import type { App } from "./http/http-deps.ts";
import type { Logger } from "./logger.ts";
import type { Worker } from "./workers/worker.ts";
import { createMetrics } from "./metrics.ts";
import { profileStore, type PersonalData } from "./profiles/profile-store.ts";
import { EventProcessor } from "./workers/event-processor.ts";
import { FlowEngine } from "./flows/flow-engine.ts";
import { FlowScheduler } from "./workers/flow-scheduler.ts";
import { FlowTriggers } from "./flows/flow-triggers.ts";
import { eraseRuns, exportRuns } from "./flows/flow-runs.sql.ts";
import { IngestResolver } from "./workers/ingest-resolver.ts";
import { IngestWriter } from "./events/ingest-writer.ts";
import { SettingsCache } from "./workspaces/settings-cache.ts";
import { SegmentComputer } from "./workers/segment-computer.ts";
import {
  SegmentHandler,
  segmentPersonalData,
} from "./segments/segment-handler.ts";
import { SegmentTimers } from "./workers/segment-timers.ts";
import {
  messagingData,
  messagingMerges,
} from "./messages/messaging-personal-data.ts";
import { MessagingSecrets } from "./messages/message-secrets.ts";
import { MessageSender } from "./workers/message-sender.ts";
import {
  couponCodesData,
  couponRedemptions,
} from "./coupons/coupon-redemptions.ts";
import {
  productAffinities,
  productViewsData,
} from "./recommendations/product-affinities.ts";
import { TemplateRenderer } from "./templates/content-renderer.ts";
import { SnsVerifier, type SnsFetch } from "./providers/sns-verifier.ts";
import { templateThreads } from "./templates/template-threads.ts";
import { openRecordedClock, type RecordedClock } from "./recorded-clock.ts";

/**
 * The composition root: the one place that builds Herald's parts and wires them together.
 * Start order: storage (lock, open, migrate) → clock (its recorded time scale checked) →
 * first-run workspace → HTTP → workers → control channel. Close runs it backwards: stop
 * accepting, let in-flight requests and worker steps finish, record the clock, close the
 * database, release the lock.
 */

/** A running Herald. */
export interface Herald {
  readonly config: Readonly<Config>;
  readonly db: Database;
  readonly clock: Clock;
  readonly app: App;
  readonly ingest: IngestWriter;
  readonly resolver: IngestResolver;
  readonly processor: EventProcessor;
  readonly flows: { engine: FlowEngine; scheduler: FlowScheduler };
  /** Segments: bulk computation of new and edited segments, and membership timers. */
  readonly segments: { computer: SegmentComputer; timers: SegmentTimers };
  /** Delivery: takes queued messages to their providers. */
  readonly sender: MessageSender;
  /** The address the HTTP server listens on. */
  readonly url: string;
  /** The workspace made on the first start with an empty database, with its keys. */
  readonly firstWorkspace: NewWorkspace | undefined;
  close(): Promise<void>;
}

/** Opened storage: the database and, for the embedded one, the directory lock. */
export interface Storage {
  db: Database;
  lock: DataDirLock | undefined;
  close(): Promise<void>;
}

/**
 * Opens the configured database: PostgreSQL when DATABASE_URL is set, else the embedded
 * one in the data directory, after taking its lock (DataDirLockedError if held).
 */
export async function openStorage(
  config: Readonly<Config>,
  logger: Logger,
): Promise<Storage> {
  if (config.databaseUrl) {
    const db = await openPostgres(
      config.databaseUrl,
      config.dbPoolSize,
      logger,
    );
    return { db, lock: undefined, close: () => db.close() };
  }
  const lock = DataDirLock.acquire(config.dataDir);
  try {
    const db = await openPglite(path.join(config.dataDir, "pg"), logger);
    return {
      db,
      lock,
      close: async () => {
        await db.close();
        lock.release();
      },
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** Options a test or the CLI can set. */
export interface StartOptions {
  logger: Logger;
  clock?: Clock;
  /** Already-open storage (tests); otherwise opened from `config`. */
  storage?: Storage;
  /** False to leave background workers stopped, for tests that drive them step by step. */
  startWorkers?: boolean;
  /** How SNS certificates and confirmations are fetched (tests); only SNS hosts are asked. */
  snsFetch?: SnsFetch;
}

/** Starts Herald with `config`; resolves once it is listening. */
export async function startHerald(
  config: Readonly<Config>,
  options: StartOptions,
): Promise<Herald> {
  const { logger } = options;
  if (config.role !== "all" && !config.databaseUrl) {
    throw new Error(
      `--role ${config.role} runs beside other Herald processes on one shared PostgreSQL: set DATABASE_URL, ` +
        `or use --role all with the embedded database`,
    );
  }
  const storage = options.storage ?? (await openStorage(config, logger));
  const { db } = storage;
  let app: App | undefined;
  let recorded: RecordedClock | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, "database migrated");
    recorded = options.clock
      ? { clock: options.clock, close: async () => undefined }
      : await openRecordedClock(db, config, logger);
    const { clock } = recorded;
    const firstWorkspace = await createFirstWorkspace(db, clock);

    templateThreads.configure({
      ...(config.templateThreads ? { size: config.templateThreads } : {}),
      memoryMb: config.templateMemoryMb,
    });
    const metrics = createMetrics();
    const keys = new KeyResolver(db);
    const settings = new SettingsCache(db);
    const ingest = new IngestWriter({
      db,
      clock,
      logger,
      registry: metrics.registry,
    });
    const resolver = new IngestResolver({
      db,
      clock,
      logger,
      registry: metrics.registry,
    });
    const personalData: PersonalData[] = [];
    const profiles = profileStore(db, clock, personalData);
    const processor = new EventProcessor({
      db,
      clock,
      logger,
      registry: metrics.registry,
      settings,
    });
    processor.addHandler(productAffinities);
    processor.addHandler(couponRedemptions);
    personalData.push(productViewsData, couponCodesData);
    processor.addHandler(messagingMerges);
    personalData.push(messagingData);
    processor.addHandler(new SegmentHandler());
    personalData.push(...segmentPersonalData);
    const flowEngine = new FlowEngine({ clock, logger, settings });
    const flowScheduler = new FlowScheduler({
      db,
      clock,
      logger,
      engine: flowEngine,
    });
    processor.addHandler(new FlowTriggers(flowEngine));
    personalData.push({
      name: "flowRuns",
      export: exportRuns,
      erase: eraseRuns,
    });
    const secrets = new MessagingSecrets(db, clock);
    const sender = new MessageSender({
      db,
      clock,
      logger,
      registry: metrics.registry,
      settings,
      secrets,
      renderer: new TemplateRenderer({ db, clock, settings }),
      publicUrl: config.publicUrl,
      smtpUrl: config.smtpUrl,
    });
    app = await buildApp({
      config,
      db,
      clock,
      logger,
      metrics,
      keys,
      settings,
      ingest,
      profiles,
      messaging: {
        secrets,
        sns: new SnsVerifier({
          clock,
          ...(options.snsFetch ? { fetch: options.snsFetch } : {}),
        }),
      },
      flows: flowEngine,
    });
    const url = await app.listen({ port: config.port, host: config.host });

    const segments = {
      computer: new SegmentComputer({ db, clock, logger }),
      timers: new SegmentTimers({ db, clock, logger }),
    };
    const workers: Worker[] = [
      resolver,
      processor,
      sender,
      flowScheduler,
      segments.computer,
      segments.timers,
    ];
    if (config.role !== "api" && options.startWorkers !== false)
      for (const worker of workers) worker.start();

    const control = storage.lock
      ? await startControlServer(
          (name, args, progress) =>
            runOperation(
              {
                db,
                clock,
                config,
                logger,
                progress,
                forgetKey: (id) => keys.forget(id),
              },
              name,
              args,
            ),
          logger,
        )
      : undefined;
    if (control)
      storage.lock?.setControl({ port: control.port, token: control.token });

    logger.info(
      {
        url,
        database: db.kind,
        role: config.role,
        timeScale: config.timeScale,
      },
      "herald started",
    );
    const started = app;
    const clockRecord = recorded;
    let closing: Promise<void> | undefined;
    return {
      config,
      db,
      clock,
      app: started,
      ingest,
      resolver,
      processor,
      flows: { engine: flowEngine, scheduler: flowScheduler },
      segments,
      sender,
      url,
      firstWorkspace,
      close: () =>
        (closing ??= (async () => {
          await control?.close();
          await started.close();
          await ingest.drain();
          await Promise.all(workers.map((worker) => worker.stop()));
          await clockRecord.close();
          await storage.close();
          logger.info("herald stopped");
        })()),
    };
  } catch (error) {
    await app?.close();
    await recorded?.close();
    await storage.close();
    throw error;
  }
}

/** On the first start with no workspace at all, creates one so a newcomer can begin. */
async function createFirstWorkspace(
  db: Database,
  clock: Clock,
): Promise<NewWorkspace | undefined> {
  const store = workspaceStore(db);
  if ((await store.listWorkspaces()).length > 0) return undefined;
  let inserted = false;
  const workspace = await createWorkspace(
    {
      ...store,
      insertWorkspace: async (w, keys) => {
        inserted = await insertFirstWorkspace(db, w, keys);
      },
    },
    clock,
    { name: "My store" },
  );
  return inserted ? workspace : undefined;
}
