import type { Queryable } from "../db/database.ts";

/** Flow statistics: per node and per branch of a version, read from its runs' steps. */

/** Per node of a flow version: how often runs passed it, by branch. */
export async function nodeStats(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<{ node_id: string; branch: string | null; passed: number }[]> {
  return q.query(
    `select s ->> 'node' as node_id, s ->> 'branch' as branch, count(*) as passed
       from flow_runs r cross join lateral jsonb_array_elements(r.steps) s
      where r.workspace_id = $1 and r.flow_id = $2 and r.version = $3
      group by 1, 2 order by 1, 2`,
    [workspaceId, flowId, version],
  );
}

/**
 * Conversions of a flow version by the nodes and branches runs passed: per node and per
 * (node, branch), the converted runs that passed there and their revenue (a run counts
 * once however often it passed), and the runs whose goal came before their first message
 * (`early`). Branch rows carry the branch; node rows a null branch.
 */
export async function nodeConversions(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<
  {
    node_id: string;
    branch: string | null;
    runs: number;
    revenue: number;
    early: number;
  }[]
> {
  return q.query(
    `with passed as (
       select distinct s ->> 'node' as node_id, s ->> 'branch' as branch, r.id, r.conversion_revenue,
              r.converted_at is not null as converted
         from flow_runs r cross join lateral jsonb_array_elements(r.steps) s
        where r.workspace_id = $1 and r.flow_id = $2 and r.version = $3
          and (r.converted_at is not null or r.goal_timing = 'before_first_message')
     )
     select node_id, branch, count(*) filter (where converted) as runs,
            coalesce(sum(conversion_revenue), 0) as revenue, count(*) filter (where not converted) as early
       from passed where branch is not null group by node_id, branch
     union all
     select node_id, null, count(*) filter (where converted), coalesce(sum(conversion_revenue), 0),
            count(*) filter (where not converted)
       from (select distinct node_id, id, conversion_revenue, converted from passed) runs group by node_id`,
    [workspaceId, flowId, version],
  );
}

/**
 * Per node, the runs of a flow version that ended there: completed or exited, and of
 * those exited, the ones whose goal came before their first message.
 */
export async function endedAtNodes(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<
  {
    node_id: string;
    completed: number;
    exited: number;
    exited_before_first_message: number;
  }[]
> {
  return q.query(
    `select node_id, count(*) filter (where status = 'completed') as completed,
            count(*) filter (where status = 'exited') as exited,
            count(*) filter (where status = 'exited' and goal_timing = 'before_first_message')
              as exited_before_first_message
       from flow_runs
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('completed', 'exited')
      group by node_id`,
    [workspaceId, flowId, version],
  );
}

/** Per node, the runs waiting there; and the flow version's run totals. */
export async function runStats(
  q: Queryable,
  workspaceId: string,
  flowId: string,
  version: number,
): Promise<{
  waiting: { node_id: string; runs: number }[];
  totals: {
    entered: number;
    active: number;
    completed: number;
    exited: number;
    converted: number;
    exitedBeforeFirstMessage: number;
    revenue: number;
  };
}> {
  const waiting = await q.query<{ node_id: string; runs: number }>(
    `select node_id, count(*) as runs from flow_runs
      where workspace_id = $1 and flow_id = $2 and version = $3 and status in ('active', 'waiting') group by node_id`,
    [workspaceId, flowId, version],
  );
  const [totals] = await q.query<{
    entered: number;
    active: number;
    completed: number;
    exited: number;
    converted: number;
    exitedBeforeFirstMessage: number;
    revenue: number;
  }>(
    `select count(*) as entered,
            count(*) filter (where status in ('active', 'waiting')) as active,
            count(*) filter (where status = 'completed') as completed,
            count(*) filter (where status = 'exited') as exited,
            count(*) filter (where converted_at is not null) as converted,
            count(*) filter (where goal_timing = 'before_first_message') as "exitedBeforeFirstMessage",
            coalesce(sum(conversion_revenue), 0) as revenue
       from flow_runs where workspace_id = $1 and flow_id = $2 and version = $3`,
    [workspaceId, flowId, version],
  );
  return {
    waiting,
    totals: totals ?? {
      entered: 0,
      active: 0,
      completed: 0,
      exited: 0,
      converted: 0,
      exitedBeforeFirstMessage: 0,
      revenue: 0,
    },
  };
}
