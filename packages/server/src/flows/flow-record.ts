import type { FlowDefinition } from "@herald/core/flows/definition";

/** A flow as stored: its draft, its status and the version new runs use. */
export interface FlowRecord {
  id: string;
  name: string;
  status: "draft" | "live" | "paused" | "archived";
  draft: FlowDefinition;
  currentVersion: number | null;
  libraryName: string | null;
  createdAt: Date;
  updatedAt: Date;
}
