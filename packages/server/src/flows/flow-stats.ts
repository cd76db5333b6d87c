import type { Database } from "../db/database.ts";
import * as flowsSql from "./flows.sql.ts";
import {
  endedAtNodes,
  nodeConversions,
  nodeStats,
  runStats,
} from "./flow-stats.sql.ts";
import { requireFlow } from "./flow-service.ts";

/** What the stats say of one node: how many passed, wait, ended there, and what it earned. */
interface NodeStats {
  type: string;
  entered: number;
  waiting: number;
  /** Runs that ended at this node by reaching it (an exit node) or early (goal, exit event). */
  completed: number;
  exited: number;
  /** Converted runs that passed this node, and their revenue. */
  converted: number;
  revenue: number;
  /** Runs that exited at this node because their goal came before their first message (no conversion). */
  exitedBeforeFirstMessage: number;
  /** Passes by branch (splits, waits for an event). */
  branches: Record<string, number>;
  /** Per branch: passes, converted runs, revenue, conversion rate (A/B results), early goals. */
  branchResults: Record<
    string,
    {
      passed: number;
      converted: number;
      revenue: number;
      conversionRate: number;
      exitedBeforeFirstMessage: number;
    }
  >;
}

/**
 * Per-node counts of a version (entered, waiting, ended there, each branch, conversions
 * and revenue of the runs that passed, per branch too for A/B splits); and the run totals.
 * A conversion is a goal after the run's first message was sent; a goal before it is
 * counted apart (`exitedBeforeFirstMessage`) and earns no revenue.
 */
export async function getFlowStats(
  db: Database,
  workspaceId: string,
  flowId: string,
  version?: number,
) {
  const flow = await requireFlow(db, workspaceId, flowId);
  const v = version ?? flow.currentVersion;
  if (v === null)
    return {
      version: null,
      nodes: {},
      totals: {
        entered: 0,
        active: 0,
        completed: 0,
        exited: 0,
        converted: 0,
        exitedBeforeFirstMessage: 0,
        revenue: 0,
      },
    };
  const definition = await flowsSql.getVersion(db, workspaceId, flowId, v);
  const [passed, runs, conversions, ended] = await Promise.all([
    nodeStats(db, workspaceId, flowId, v),
    runStats(db, workspaceId, flowId, v),
    nodeConversions(db, workspaceId, flowId, v),
    endedAtNodes(db, workspaceId, flowId, v),
  ]);
  const nodes: Record<string, NodeStats> = {};
  for (const [id, node] of Object.entries(definition?.nodes ?? {}))
    nodes[id] = {
      type: node.type,
      entered: 0,
      waiting: 0,
      completed: 0,
      exited: 0,
      converted: 0,
      revenue: 0,
      exitedBeforeFirstMessage: 0,
      branches: {},
      branchResults: {},
    };
  const branchResult = (node: NodeStats, branch: string) =>
    (node.branchResults[branch] ??= {
      passed: 0,
      converted: 0,
      revenue: 0,
      conversionRate: 0,
      exitedBeforeFirstMessage: 0,
    });
  for (const row of passed) {
    const node = nodes[row.node_id];
    if (!node) continue;
    node.entered += row.passed;
    if (row.branch) {
      node.branches[row.branch] = (node.branches[row.branch] ?? 0) + row.passed;
      branchResult(node, row.branch).passed += row.passed;
    }
  }
  for (const row of runs.waiting) {
    const node = nodes[row.node_id];
    if (node) {
      node.waiting += row.runs;
      node.entered += row.runs;
    }
  }
  for (const row of ended) {
    const node = nodes[row.node_id];
    if (node) {
      node.completed += row.completed;
      node.exited += row.exited;
      node.exitedBeforeFirstMessage += row.exited_before_first_message;
    }
  }
  for (const row of conversions) {
    const node = nodes[row.node_id];
    if (!node) continue;
    if (row.branch) {
      // A wait for the goal's event takes its branch: the early goal shows there.
      const result = branchResult(node, row.branch);
      result.converted += row.runs;
      result.revenue += Number(row.revenue);
      result.exitedBeforeFirstMessage += row.early;
    } else {
      node.converted += row.runs;
      node.revenue += Number(row.revenue);
    }
  }
  for (const node of Object.values(nodes))
    for (const result of Object.values(node.branchResults))
      result.conversionRate =
        result.passed > 0 ? result.converted / result.passed : 0;
  return { version: v, nodes, totals: runs.totals };
}
