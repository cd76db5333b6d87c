import fs from "node:fs";
import { parse } from "csv-parse";
import type { Clock } from "@herald/core/clock";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import {
  byPriority,
  identifierKey,
  normalizeIdentifier,
  type Identifier,
} from "@herald/core/identity/identifiers";
import {
  readImportRow,
  type ImportRow,
  type RejectedRow,
} from "@herald/core/lists/list-import";
import {
  defaultMemberStatus,
  type List,
  type ListStatus,
  type NewListMembers,
} from "@herald/core/lists/lists";
import type { Database, Tx } from "../db/database.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import { getList } from "./lists.sql.ts";
import { getSettings } from "../workspaces/settings.sql.ts";
import type { SettingsCache } from "../workspaces/settings-cache.ts";
import { appendEvents } from "../events/event-log.ts";
import { changeListStatus, requireList } from "./list-service.ts";

/**
 * Filling lists with people named by email, phone or user id (the API's "add members" and
 * the CSV import): finds each person's profile or creates it, with an `identify` event
 * that carries the row's other columns as traits (silent and from source `import`, so no
 * welcome flow fires), then sets their status on the list and re-evaluates the segments on
 * the list, one transaction per batch of rows.
 */

/** A person to put on a list, and the status to give them (the list's default if absent). */
export interface ListPerson extends ImportRow {
  line?: number;
}

/** What an import did. */
export interface ImportSummary {
  imported: number;
  /** How many rows were refused, and the first hundred of them with why. */
  rejectedCount: number;
  rejected: RejectedRow[];
}

/**
 * Puts people on a list in one transaction: profiles are found by their strongest
 * identifier or created; resolves to the profile id of each person, in order.
 */
export async function addPeopleToList(
  tx: Tx,
  workspaceId: string,
  options: {
    list: List;
    people: ListPerson[];
    status?: ListStatus;
    source: string;
    now: Date;
  },
): Promise<string[]> {
  const { list, people, now } = options;
  if (people.length === 0) return [];
  await appendEvents(
    tx,
    workspaceId,
    people.map((person) => {
      const email = person.identifiers.find((i) => i.type === "email")?.value;
      const phone = person.identifiers.find((i) => i.type === "phone")?.value;
      const userId =
        person.identifiers.find((i) => i.type === "user_id")?.value ?? null;
      return {
        event: {
          messageId: `herald-list-${uuidv7(now)}`,
          type: "identify" as const,
          name: null,
          userId,
          anonymousId: null,
          properties: {},
          traits: {
            ...person.traits,
            ...(email ? { email } : {}),
            ...(phone ? { phone } : {}),
          },
          context: {},
          timestamp: now,
          receivedAt: now,
          source: "import" as const,
          silent: options.source === "import",
        },
        identifiers: [...person.identifiers].sort(byPriority),
      };
    }),
    now,
  );
  const owners = await findOwners(
    tx,
    workspaceId,
    people.flatMap((person) => person.identifiers),
  );
  // As ingest assigns: the owner of the strongest identifier that has one.
  const profileIds = people.map((person) => {
    const owner = [...person.identifiers]
      .sort(byPriority)
      .map((id) => owners.get(identifierKey(id)))
      .find((id) => id !== undefined);
    if (!owner)
      throw new DomainError(
        "conflict",
        "a person's profile could not be found after creating it; try again",
      );
    return owner;
  });
  const byStatus = new Map<ListStatus, string[]>();
  people.forEach((person, i) => {
    const status = person.status ?? options.status ?? defaultMemberStatus(list);
    byStatus.set(status, [
      ...(byStatus.get(status) ?? []),
      profileIds[i] ?? "",
    ]);
  });
  for (const [status, ids] of byStatus)
    await changeListStatus(tx, workspaceId, list.id, {
      profileIds: ids,
      status,
      now,
      source: options.source,
    });
  return profileIds;
}

/**
 * Adds people to a list from the API, in one transaction: members named by profile id get
 * their status (the body's, else the list's default) as they are; members named by email,
 * phone or user id are found or created first. Resolves to each member's profile id, in
 * the body's order.
 */
export async function addListMembers(
  deps: { db: Database; clock: Clock; settings: SettingsCache },
  workspaceId: string,
  listId: string,
  body: NewListMembers,
): Promise<{ added: number; profileIds: string[] }> {
  const { db, clock } = deps;
  const list = await requireList(db, workspaceId, listId);
  const settings = await deps.settings.get(workspaceId);
  const byProfile: {
    index: number;
    profileId: string;
    status: ListStatus | undefined;
  }[] = [];
  const people: (ListPerson & { index: number })[] = [];
  body.members.forEach((member, index) => {
    const path = `/body/members/${index}`;
    if (member.profileId) {
      byProfile.push({
        index,
        profileId: member.profileId,
        status: member.status,
      });
      return;
    }
    const identifiers: Identifier[] = [];
    for (const [key, type] of [
      ["email", "email"],
      ["phone", "phone"],
      ["userId", "user_id"],
    ] as const) {
      const raw = member[key];
      if (raw === undefined) continue;
      const value = normalizeIdentifier(type, raw, settings.defaultPhoneRegion);
      if (value === undefined)
        throw new DomainError(
          "invalid",
          `${path}/${key}: "${raw}" is not a usable ${type}`,
          [{ path: `${path}/${key}`, message: `is not a usable ${type}` }],
        );
      identifiers.push({ type, value });
    }
    if (identifiers.length === 0)
      throw new DomainError(
        "invalid",
        `${path}: give a profileId, email, phone or userId`,
        [
          {
            path,
            message: "names nobody: give a profileId, email, phone or userId",
          },
        ],
      );
    people.push({
      index,
      identifiers,
      traits: member.traits ?? {},
      status: member.status,
      line: index,
    });
  });
  const profileIds: string[] = new Array<string>(body.members.length).fill("");
  await db.tx(async (tx) => {
    const now = clock.now();
    const byStatus = new Map<ListStatus | undefined, string[]>();
    for (const member of byProfile) {
      byStatus.set(member.status, [
        ...(byStatus.get(member.status) ?? []),
        member.profileId,
      ]);
      profileIds[member.index] = member.profileId;
    }
    for (const [status, ids] of byStatus)
      await changeListStatus(tx, workspaceId, list.id, {
        profileIds: ids,
        status: status ?? body.status ?? defaultMemberStatus(list),
        now,
        source: "api",
      });
    const ids = await addPeopleToList(tx, workspaceId, {
      list,
      people,
      ...(body.status ? { status: body.status } : {}),
      source: "api",
      now,
    });
    people.forEach((person, i) => (profileIds[person.index] = ids[i] ?? ""));
  });
  return { added: profileIds.length, profileIds };
}

/** Counts the lines of a file (for a progress bar's total). */
async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of fs.createReadStream(file)) {
    const bytes = chunk as Buffer; // a stream without an encoding yields Buffers
    for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1))
      lines++;
  }
  return lines;
}

/**
 * Imports a CSV file of list members (see core/lists/list-import.ts for the columns),
 * in batches of `batchSize` rows, reporting progress; rows that cannot be read are
 * counted and the first hundred returned with their line and reason.
 */
export async function importListFile(
  db: Database,
  clock: Clock,
  input: {
    workspaceId: string;
    listId: string;
    file: string;
    status?: ListStatus;
    /** Rows per transaction. */
    batchSize?: number;
  },
  progress: (update: { done: number; total?: number; label?: string }) => void,
): Promise<ImportSummary> {
  const { batchSize = 1000 } = input;
  const list = await getList(db, input.workspaceId, input.listId);
  if (!list)
    throw new DomainError(
      "not_found",
      `no list ${input.listId} in workspace ${input.workspaceId} (GET /api/lists shows its lists)`,
    );
  if (!fs.existsSync(input.file))
    throw new DomainError("invalid", `cannot read ${input.file}: no such file`);
  const settings = (await getSettings(db, input.workspaceId)) ?? {};
  const region = settings.defaultPhoneRegion;
  const total = Math.max(0, (await countLines(input.file)) - 1);
  const summary: ImportSummary = {
    imported: 0,
    rejectedCount: 0,
    rejected: [],
  };
  const reject = (line: number, reason: string) => {
    summary.rejectedCount++;
    if (summary.rejected.length < 100) summary.rejected.push({ line, reason });
  };
  let batch: ListPerson[] = [];
  let done = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const people = batch;
    batch = [];
    await db.tx((tx) =>
      addPeopleToList(tx, input.workspaceId, {
        list,
        people,
        ...(input.status ? { status: input.status } : {}),
        source: "import",
        now: clock.now(),
      }),
    );
    summary.imported += people.length;
    progress({ done, total, label: `importing into ${list.name}` });
  };
  const parser = fs.createReadStream(input.file).pipe(
    parse({
      columns: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }),
  );
  try {
    for await (const item of parser) {
      // csv-parse yields {record, info} objects with `info: true`; records are column → cell.
      const { record, info } = item as {
        record: Record<string, string>;
        info: { lines: number };
      };
      done++;
      const row = readImportRow(record, region);
      if (typeof row === "string") reject(info.lines, row);
      else batch.push({ ...row, line: info.lines });
      if (batch.length >= batchSize) await flush();
    }
  } catch (error) {
    if (error instanceof DomainError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DomainError(
      "invalid",
      `${input.file} is not a CSV file Herald can read: ${message}`,
    );
  }
  await flush();
  progress({
    done,
    total: Math.max(total, done),
    label: `importing into ${list.name}`,
  });
  return summary;
}
