import fs from "node:fs";
import { parse } from "csv-parse";
import { upsertProducts } from "@herald/core/catalog/catalog";
import { DomainError } from "@herald/core/domain-error";
import type { IncomingEvent } from "@herald/core/events/event";
import { extractIdentifiers } from "@herald/core/identity/identifiers";
import {
  columnName,
  customerRow,
  orderRows,
  productRows,
  type CsvRow,
  type ImportKind,
  type RejectedRow,
} from "@herald/core/imports/csv-rows";
import { catalogWrites } from "../catalog/catalog.sql.ts";
import { insertIngestErrors } from "../events/ingest-errors.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import { appendEvents } from "../events/event-log.ts";
import {
  resolveWorkspace,
  type OperationContext,
} from "./operation-context.ts";

/**
 * `herald import customers|orders|products FILE.csv`: streams the file in batches of 500
 * rows, each batch one transaction, reporting progress by line. Bad rows are skipped and
 * listed (and kept in the ingest-errors log); the rest are stored. `silent` imports history
 * without firing flows. Rows of one order must be adjacent, as store exports write them.
 */

const batchRows = 500;

/** What an import did. */
export interface ImportSummary {
  kind: ImportKind;
  workspaceId: string;
  rows: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The first rejected rows, with why. */
  reasons: RejectedRow[];
}

async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of fs.createReadStream(file)) {
    for (const byte of chunk as Buffer) if (byte === 10) lines++;
  }
  return Math.max(0, lines - 1);
}

/** Runs an import; see the module comment. */
export async function importCsv(
  ctx: OperationContext,
  input: {
    kind: ImportKind;
    file: string;
    workspaceId?: string;
    silent: boolean;
  },
): Promise<ImportSummary> {
  if (!fs.existsSync(input.file))
    throw new DomainError("not_found", `no file ${input.file}`);
  const workspaceId = await resolveWorkspace(ctx, input.workspaceId);
  const total = await countLines(input.file);
  const summary: ImportSummary = {
    kind: input.kind,
    workspaceId,
    rows: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    reasons: [],
  };
  const settings = await getSettings(ctx.db, workspaceId);
  if (!settings)
    throw new DomainError("not_found", `no workspace ${workspaceId}`);
  const region = settings.defaultPhoneRegion;

  const reject = (rows: RejectedRow[]) => {
    summary.rejected += rows.length;
    for (const row of rows)
      if (summary.reasons.length < 20) summary.reasons.push(row);
  };

  const write = async (rows: CsvRow[]) => {
    const now = ctx.clock.now();
    const rejected: RejectedRow[] = [];
    await ctx.db.tx(async (tx) => {
      if (input.kind === "products") {
        const mapped = productRows(rows);
        rejected.push(...mapped.rejected);
        if (mapped.products.length > 0)
          await upsertProducts(
            catalogWrites(tx, workspaceId, now),
            mapped.products,
          );
        summary.stored += mapped.products.length;
      } else {
        const shapes =
          input.kind === "orders"
            ? orderRows(rows)
            : rows.reduce<{
                events: Omit<
                  IncomingEvent,
                  "receivedAt" | "source" | "silent"
                >[];
                rejected: RejectedRow[];
              }>(
                (acc, row) => {
                  const result = customerRow(row, now);
                  if ("event" in result) acc.events.push(result.event);
                  else acc.rejected.push(result);
                  return acc;
                },
                { events: [], rejected: [] },
              );
        rejected.push(...shapes.rejected);
        const items = shapes.events.map((shape) => {
          const event: IncomingEvent = {
            ...shape,
            receivedAt: now,
            source: "import",
            silent: input.silent,
          };
          return { event, identifiers: extractIdentifiers(event, region) };
        });
        const stored = await appendEvents(tx, workspaceId, items, now);
        summary.stored += stored.size;
        summary.duplicates += items.length - stored.size;
      }
      await insertIngestErrors(
        tx,
        workspaceId,
        rejected.map((r) => ({
          source: "import",
          endpoint: `import ${input.kind}`,
          batchIndex: r.line,
          messageId: null,
          reason: r.reason,
          payload: null,
        })),
        now,
      );
    });
    reject(rejected);
    summary.rows += rows.length;
    ctx.progress({
      done: Math.min(summary.rows, total),
      total,
      label: `importing ${input.kind}`,
    });
  };

  const parser = fs.createReadStream(input.file).pipe(
    parse({
      columns: (headers: string[]) =>
        headers.map((header) => columnName(header, input.kind)),
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }),
  );
  let batch: CsvRow[] = [];
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      batch.push({ line: info.lines, values: record });
      if (batch.length < batchRows) continue;
      // Keep an order's lines together: the last order of a batch waits for the next one.
      let cut = batch.length;
      if (input.kind === "orders") {
        const last = batch.at(-1)?.values.order_id;
        while (cut > 1 && batch[cut - 1]?.values.order_id === last) cut--;
        if (cut === 1 && batch[0]?.values.order_id === last) cut = batch.length;
      }
      await write(batch.slice(0, cut));
      batch = batch.slice(cut);
    }
  } catch (error) {
    if (
      error instanceof Error &&
      "code" in error &&
      String(error.code).startsWith("CSV_")
    ) {
      throw new DomainError(
        "invalid",
        `${input.file} is not a readable CSV file: ${error.message}`,
      );
    }
    throw error;
  }
  if (batch.length > 0) await write(batch);
  return summary;
}
