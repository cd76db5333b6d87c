import fs from "node:fs";
import path from "node:path";
import readline from "node:readline/promises";
import YAML from "yaml";
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { systemClock } from "@herald/core/clock";
import { isDomainError } from "@herald/core/domain-error";
import { ConfigError, parseConfig, type Config, type Role } from "../config.ts";
import { DataDirLockedError, liveHolder } from "../db/data-dir-lock.ts";
import { migrate } from "../db/migrate.ts";
import { createLogger, silentLogger } from "../logger.ts";
import { openStorage, startHerald } from "../main.ts";
import { callControl, OperationError } from "../operations/control.ts";
import type { ImportSummary } from "../operations/import-csv.ts";
import type { Progress } from "../operations/operation-context.ts";
import { runOperation } from "../operations/operations.ts";
import { isCopy, runAsCopy, superviseCopies } from "./processes.ts";

/**
 * `herald`, the operator's command line. Commands that need the database open it
 * directly when they can; while a server holds the embedded database they ask that server
 * through its control channel instead. Output is for people unless `--json` is given.
 */

const { version } = JSON.parse(
  fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as { version: string };

const program = new Command("herald")
  .description("Herald: marketing automation for online stores")
  .version(version, "-V, --version", "print Herald's version")
  .showHelpAfterError("(run with --help for usage)")
  .configureHelp({ sortSubcommands: true });

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("a port is a number from 0 to 65535");
  return n;
}

function processCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new InvalidArgumentError("a number of processes from 1 to 64");
  return n;
}

function config(
  overrides: Partial<Pick<Config, "port" | "role">> = {},
): Readonly<Config> {
  return parseConfig(process.env, overrides);
}

/** Prints a one-line progress bar on a terminal, nothing otherwise. */
function progressBar(): (progress: Progress) => void {
  if (!process.stderr.isTTY) return () => undefined;
  return ({ done, total, label }) => {
    const width = 30;
    const share = total ? Math.min(1, done / total) : 0;
    const bar = total
      ? "█".repeat(Math.round(share * width)).padEnd(width, "░")
      : "";
    const count = total
      ? `${done}/${total} (${Math.round(share * 100)}%)`
      : `${done}`;
    process.stderr.write(
      `\r${label ?? ""} ${bar} ${count}`.trimStart() +
        (total && done >= total ? "\n" : ""),
    );
  };
}

/**
 * Runs an operation where the database is: on PostgreSQL directly; on the embedded
 * database directly if no server holds it, else through the holder's control channel.
 */
async function operate(
  name: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const cfg = config();
  const progress = progressBar();
  for (let attempt = 0; ; attempt++) {
    const holder = cfg.databaseUrl ? undefined : liveHolder(cfg.dataDir);
    if (holder?.control)
      return callControl(holder.control, name, args, progress);
    if (holder) {
      if (attempt < 50) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      throw new Error(
        `Herald process ${holder.pid} holds ${cfg.dataDir} but does not answer yet; wait until it has started, ` +
          `or stop it and run this command again`,
      );
    }
    try {
      const storage = await openStorage(cfg, silentLogger);
      try {
        await migrate(storage.db);
        return await runOperation(
          {
            db: storage.db,
            clock: systemClock,
            config: cfg,
            logger: silentLogger,
            progress,
          },
          name,
          args,
        );
      } finally {
        await storage.close();
      }
    } catch (error) {
      if (error instanceof DataDirLockedError && attempt < 50) continue; // a server started meanwhile
      throw error;
    }
  }
}

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`,
  );
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

program
  .command("start")
  .description("run the Herald server (HTTP API, ingest, workers)")
  .addOption(
    new Option(
      "--role <role>",
      "which parts to run: all, or api / worker beside others on one PostgreSQL",
    )
      .choices(["all", "api", "worker"])
      .default("all"),
  )
  .option("--port <port>", "HTTP port (default: PORT or 3000)", port)
  .option(
    "--processes <n>",
    "server processes sharing the port, one per core for the most HTTP throughput (needs DATABASE_URL)",
    processCount,
    1,
  )
  .action(async (options: { role: Role; port?: number; processes: number }) => {
    const cfg = config({
      role: options.role,
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    const logger = createLogger(cfg.logLevel);
    if (options.processes > 1 && !isCopy()) {
      if (!cfg.databaseUrl)
        throw new InvalidArgumentError(
          "--processes needs DATABASE_URL: the embedded database belongs to one process",
        );
      superviseCopies(options.processes, logger);
      return;
    }
    const herald = await startHerald(cfg, { logger });
    if (herald.firstWorkspace) {
      const w = herald.firstWorkspace;
      process.stdout.write(
        [
          "",
          `Herald created your first workspace, "${w.name}" (${w.id}). Its keys are shown only this once:`,
          `  write key   ${w.writeKey}   send events: POST /v1/track, /v1/identify, ... (Basic auth or "writeKey")`,
          `  secret key  ${w.secretKey}   admin API: Authorization: Bearer <secret key>`,
          "",
          "Marketing goes only to people who said yes (the marketingConsent setting is explicit). Consent arrives",
          '  as the email_consent trait ("subscribed") on identify, from Shopify\'s email_marketing_consent, from forms',
          "  and list sign-ups. marketingConsent unless_unsubscribed also sends to people never asked. GET /api/outbox",
          "  shows every skipped message with its reason.",
          "",
        ].join("\n") + "\n",
      );
    }
    let signals = 0;
    const stop = (signal: string) => {
      if (++signals > 1) process.exit(1);
      logger.info({ signal }, "stopping");
      herald.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "failed to stop cleanly");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    if (isCopy())
      runAsCopy(
        herald.url,
        herald.db.kind,
        () => signals === 0 && stop("primary"),
      );
    else
      process.stdout.write(
        `Herald is ready at ${herald.url} (database: ${herald.db.kind}). Health: ${herald.url}/health\n`,
      );
  });

program
  .command("migrate")
  .description(
    "apply pending database migrations (the server also does this on start)",
  )
  .action(async () => {
    const { applied } = (await operate("migrate", {})) as { applied: string[] };
    process.stdout.write(
      applied.length
        ? `applied ${applied.join(", ")}\n`
        : "the database is up to date\n",
    );
  });

const workspace = program
  .command("workspace")
  .description("manage workspaces (one per store)");
workspace
  .command("create")
  .description(
    "create a workspace with a write key and a secret key (shown once)",
  )
  .requiredOption("--name <name>", "the store's name")
  .option("--json", "print JSON: {id, name, writeKey, secretKey}")
  .action(async (options: { name: string; json?: boolean }) => {
    const w = (await operate("workspace.create", {
      name: options.name,
    })) as Record<string, string>;
    const { id, name, writeKey, secretKey } = w;
    print(options.json ?? false, { id, name, writeKey, secretKey }, () =>
      [
        `created workspace ${name} (${id})`,
        `write key   ${writeKey}`,
        `secret key  ${secretKey}`,
        "keep them now: they are not shown again",
      ].join("\n"),
    );
  });
workspace
  .command("list")
  .description("list workspaces")
  .option("--json", "print JSON")
  .action(async (options: { json?: boolean }) => {
    const items = (await operate("workspace.list", {})) as Record<
      string,
      unknown
    >[];
    print(options.json ?? false, items, () =>
      table(items, ["id", "name", "createdAt"]),
    );
  });

const key = program.command("key").description("manage a workspace's API keys");
key
  .command("create")
  .description("create a key (shown once)")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .addOption(
    new Option("--kind <kind>", "write: send events; secret: admin API")
      .choices(["write", "secret"])
      .default("secret"),
  )
  .option("--name <name>", "a name to recognise it by")
  .option("--json", "print JSON")
  .action(
    async (options: {
      workspace?: string;
      kind: string;
      name?: string;
      json?: boolean;
    }) => {
      const issued = (await operate("key.create", {
        ...(options.workspace ? { workspaceId: options.workspace } : {}),
        kind: options.kind,
        ...(options.name ? { name: options.name } : {}),
      })) as Record<string, string>;
      print(
        options.json ?? false,
        issued,
        () =>
          `${issued.kind} key ${issued.id}: ${issued.key}\nkeep it now: it is not shown again`,
      );
    },
  );
key
  .command("list")
  .description("list a workspace's keys (never their values)")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .option("--json", "print JSON")
  .action(async (options: { workspace?: string; json?: boolean }) => {
    const items = (await operate(
      "key.list",
      options.workspace ? { workspaceId: options.workspace } : {},
    )) as Record<string, unknown>[];
    print(options.json ?? false, items, () =>
      table(items, ["id", "kind", "name", "prefix", "createdAt", "revokedAt"]),
    );
  });
key
  .command("revoke")
  .description("revoke a key: requests with it are refused from then on")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .argument("<keyId>", "the key's id (from herald key list)")
  .action(async (keyId: string, options: { workspace?: string }) => {
    await operate("key.revoke", {
      ...(options.workspace ? { workspaceId: options.workspace } : {}),
      keyId,
    });
    process.stdout.write(`revoked ${keyId}\n`);
  });

program
  .command("import")
  .description("import a store's customers, orders or products from a CSV file")
  .addArgument(
    new Argument("<kind>", "what the file holds").choices([
      "customers",
      "orders",
      "products",
    ]),
  )
  .argument("<file>", "the CSV file, with a header row")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .option(
    "--silent",
    "import history without starting flows (no welcome mails for old customers)",
  )
  .option("--json", "print the summary as JSON")
  .action(
    async (
      kind: string,
      file: string,
      options: { workspace?: string; silent?: boolean; json?: boolean },
    ) => {
      const summary = (await operate("import", {
        kind,
        file: path.resolve(file),
        silent: options.silent ?? false,
        ...(options.workspace ? { workspaceId: options.workspace } : {}),
      })) as ImportSummary;
      print(options.json ?? false, summary, () =>
        [
          `${summary.rows} rows read: ${summary.stored} ${kind === "products" ? "products upserted" : "new events stored"}` +
            (summary.duplicates > 0
              ? `, ${summary.duplicates} already imported before`
              : "") +
            `, ${summary.rejected} rejected` +
            (options.silent ? " (silent: no flows started)" : ""),
          ...summary.reasons.map((r) => `  line ${r.line}: ${r.reason}`),
          summary.rejected > summary.reasons.length
            ? `  … and ${summary.rejected - summary.reasons.length} more (GET /api/ingest-errors lists them all)`
            : "",
        ]
          .filter((line) => line !== "")
          .join("\n"),
      );
      if (summary.rows > 0 && summary.rejected === summary.rows)
        process.exitCode = 1;
    },
  );

const list = program.command("list").description("manage static lists");
list
  .command("import")
  .description(
    "add the people of a CSV file to a list (columns: email, phone or user_id; optional status; others become traits)",
  )
  .requiredOption("--list <id>", "the list's id (from GET /api/lists)")
  .argument("<file>", "the CSV file, with a header row")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .addOption(
    new Option(
      "--status <status>",
      "status for rows without one (default: the list's: pending with double opt-in, else subscribed)",
    ).choices(["subscribed", "unsubscribed", "pending"]),
  )
  .option("--json", "print the summary as JSON")
  .action(
    async (
      file: string,
      options: {
        list: string;
        workspace?: string;
        status?: string;
        json?: boolean;
      },
    ) => {
      const summary = (await operate("list.import", {
        listId: options.list,
        file: path.resolve(file),
        ...(options.workspace ? { workspaceId: options.workspace } : {}),
        ...(options.status ? { status: options.status } : {}),
      })) as {
        imported: number;
        rejectedCount: number;
        rejected: { line: number; reason: string }[];
      };
      print(options.json ?? false, summary, () =>
        [
          `${summary.imported} people put on list ${options.list}, ${summary.rejectedCount} rows rejected`,
          ...summary.rejected.map((r) => `  line ${r.line}: ${r.reason}`),
          summary.rejectedCount > summary.rejected.length
            ? `  … and ${summary.rejectedCount - summary.rejected.length} more`
            : "",
        ]
          .filter((line) => line !== "")
          .join("\n"),
      );
      if (summary.imported === 0 && summary.rejectedCount > 0)
        process.exitCode = 1;
    },
  );

const flows = program
  .command("flows")
  .description("automation flows: the library, and flows kept as code");
flows
  .command("library")
  .description("list the ready flows that can be installed")
  .option("--json", "print JSON")
  .action(async (options: { json?: boolean }) => {
    const items = (await operate("flows.library", {})) as {
      name: string;
      title: string;
      description: string;
    }[];
    print(options.json ?? false, items, () =>
      items
        .map(
          (f) =>
            `${f.name.padEnd(20)} ${f.title}\n${" ".repeat(21)}${f.description}`,
        )
        .join("\n\n"),
    );
  });
flows
  .command("install")
  .description(
    "install a library flow with its starter templates (a draft unless --publish)",
  )
  .argument("<name>", "the library flow (herald flows library lists them)")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .option("--publish", "make it live at once")
  .option(
    "--store-name <name>",
    "set the store's name, which the flow's messages show (setting storeName)",
  )
  .option(
    "--store-url <url>",
    "set the store's address, where the messages' links lead (setting storeUrl)",
  )
  .option("--json", "print JSON")
  .action(
    async (
      name: string,
      options: {
        workspace?: string;
        publish?: boolean;
        storeName?: string;
        storeUrl?: string;
        json?: boolean;
      },
    ) => {
      const workspaceId = options.workspace
        ? { workspaceId: options.workspace }
        : {};
      const settings: Record<string, string> = {
        ...(options.storeName ? { storeName: options.storeName } : {}),
        ...(options.storeUrl ? { storeUrl: options.storeUrl } : {}),
      };
      if (process.stdin.isTTY && process.stdout.isTTY) {
        const missing = (await operate("flows.missing-settings", {
          name,
          ...workspaceId,
        })) as ("storeName" | "storeUrl")[];
        Object.assign(
          settings,
          await askStoreSettings(missing.filter((key) => !settings[key])),
        );
      }
      const installed = (await operate("flows.install", {
        name,
        publish: options.publish ?? false,
        ...workspaceId,
        ...(Object.keys(settings).length > 0 ? { settings } : {}),
      })) as {
        id: string;
        name: string;
        status: string;
        templates: number;
        warnings: string[];
      };
      for (const warning of installed.warnings)
        process.stderr.write(`warning: ${warning}\n`);
      print(
        options.json ?? false,
        installed,
        () =>
          `installed ${installed.name} as ${installed.id} (${installed.status}, ${installed.templates} templates)` +
          (installed.status === "draft"
            ? `\nreview it, then publish: POST /api/flows/${installed.id}/publish`
            : ""),
      );
    },
  );
flows
  .command("list")
  .description("list a workspace's flows")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .option("--json", "print JSON")
  .action(async (options: { workspace?: string; json?: boolean }) => {
    const items = (await operate(
      "flows.list",
      options.workspace ? { workspaceId: options.workspace } : {},
    )) as Record<string, unknown>[];
    print(options.json ?? false, items, () =>
      table(items, ["id", "name", "status", "version", "library"]),
    );
  });
flows
  .command("apply")
  .description(
    "create or update (by name) a flow from a YAML or JSON file, for flows kept in git",
  )
  .argument("<file>", "the flow definition")
  .option("--workspace <id>", "workspace id (needed when there are several)")
  .option("--publish", "publish it as a new version")
  .action(
    async (
      file: string,
      options: { workspace?: string; publish?: boolean },
    ) => {
      let definition: unknown;
      try {
        definition = YAML.parse(fs.readFileSync(file, "utf8"));
      } catch (error) {
        throw new Error(
          `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      const applied = (await operate("flows.apply", {
        definition,
        publish: options.publish ?? false,
        ...(options.workspace ? { workspaceId: options.workspace } : {}),
      })) as {
        id: string;
        name: string;
        created: boolean;
        version: number | null;
      };
      process.stdout.write(
        `${applied.created ? "created" : "updated"} ${applied.name} (${applied.id})${applied.version ? `, published as version ${applied.version}` : ", draft saved"}\n`,
      );
    },
  );

/** Asks on the terminal for the store settings a library flow needs. */
async function askStoreSettings(
  keys: ("storeName" | "storeUrl")[],
): Promise<Record<string, string>> {
  if (keys.length === 0) return {};
  const questions = {
    storeName: "Your store's name (emails show it): ",
    storeUrl: "Your store's address, https://… (emails link to it): ",
  };
  const terminal = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
  });
  try {
    const answers: Record<string, string> = {};
    for (const key of keys) {
      const answer = (await terminal.question(questions[key])).trim();
      if (answer) answers[key] = answer;
    }
    return answers;
  } finally {
    terminal.close();
  }
}

/** Runs the CLI; prints errors with what to do next and exits non-zero. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const message =
      error instanceof ConfigError ||
      error instanceof DataDirLockedError ||
      error instanceof OperationError ||
      isDomainError(error)
        ? error.message
        : error instanceof Error
          ? error.message
          : String(error);
    process.stderr.write(`herald: ${message}\n`);
    process.exit(1);
  }
}
