import type { Queryable, Tx } from "../db/database.ts";

/** An event the ingest API refused. */
export interface IngestError {
  source: string;
  endpoint: string;
  batchIndex: number | null;
  messageId: string | null;
  reason: string;
  /** The refused event as sent, cut to 4 KB. */
  payload: string | null;
}

/** Records refused events. */
export async function insertIngestErrors(
  tx: Tx,
  workspaceId: string,
  errors: IngestError[],
  at: Date,
): Promise<void> {
  if (errors.length === 0) return;
  await tx.query(
    insertIngestErrorRows({ workspace: "$1", at: "$2", rows: "$3" }),
    [workspaceId, at, JSON.stringify(ingestErrorRows(errors))],
  );
}

/**
 * The insert of `ingestErrorRows` (the JSON in parameter `rows`) into ingest_errors; with
 * `withWorkspace`, each row also carries its `workspace_id`.
 */
export function insertIngestErrorRows(p: {
  workspace: string;
  at: string;
  rows: string;
  withWorkspace?: boolean;
}): string {
  return `insert into ingest_errors (workspace_id, received_at, source, endpoint, batch_index, message_id, reason, payload)
     select ${p.workspace}, ${p.at}, r.source, r.endpoint, r.batch_index, r.message_id, r.reason, r.payload
       from jsonb_to_recordset(${p.rows}::jsonb) as r(${p.withWorkspace ? "workspace_id text, " : ""}source text,
            endpoint text, batch_index int, message_id text, reason text, payload text)`;
}

/** Refused events as the rows `jsonb_to_recordset` reads in `insertIngestErrorRows`. */
export function ingestErrorRows(errors: IngestError[]) {
  return errors.map((e) => ({
    source: e.source,
    endpoint: e.endpoint,
    batch_index: e.batchIndex,
    message_id: e.messageId,
    reason: e.reason,
    payload: e.payload,
  }));
}

/** A page of refused events, newest first. */
export async function listIngestErrors(
  q: Queryable,
  workspaceId: string,
  page: { limit: number; beforeId?: number },
): Promise<
  {
    id: number;
    received_at: Date;
    source: string;
    endpoint: string;
    batch_index: number | null;
    message_id: string | null;
    reason: string;
    payload: string | null;
  }[]
> {
  return q.query(
    `select id, received_at, source, endpoint, batch_index, message_id, reason, payload from ingest_errors
      where workspace_id = $1 and ($2::bigint is null or id < $2)
      order by id desc limit $3`,
    [workspaceId, page.beforeId ?? null, page.limit],
  );
}
