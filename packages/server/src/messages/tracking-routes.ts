import type { FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import { uuidv7 } from "@herald/core/ids";
import {
  classifyInteraction,
  parseToken,
  verifyToken,
  type LinkToken,
  type TokenKind,
} from "@herald/core/messages/tracking";
import type { Database } from "../db/database.ts";
import { findOwners } from "../profiles/identities.sql.ts";
import {
  listLists,
  listStatusesOf,
  setListStatus,
} from "../lists/lists.sql.ts";
import {
  deletePushSubscription,
  getMessageRow,
  interactionCounts,
  setPreferencePause,
  setProfileConsent,
  upsertPushSubscription,
  type MessageRow,
} from "./messages.sql.ts";
import { getProfileRow } from "../profiles/profiles.sql.ts";
import { appendEvents } from "../events/ingest-writer.ts";
import { reachabilityChanged } from "../segments/segment-service.ts";
import {
  changeConsent,
  recordMessageNews,
  unsubscribeRecipient,
} from "./message-ledger.ts";
import type { App, HttpDeps } from "../http/http-deps.ts";
import { errorBody } from "../http/errors.ts";

/**
 * What shoppers' mail clients and browsers reach, without an API key:
 *
 * - `GET /t/o/<token>`: the open pixel (always a GIF; an open is recorded when the token
 *   is genuine, flagged when a privacy proxy or scanner fetched it).
 * - `GET /t/c/<token>`: a signed click redirect to the message's link (UTM included).
 * - `GET /u/<token>`: a confirmation page and preference centre; never unsubscribes.
 * - `POST /u/<token>`: `List-Unsubscribe=One-Click` (RFC 8058) unsubscribes at once;
 *   the page's forms unsubscribe, pause, or change lists.
 * - `POST|DELETE /v1/push/subscriptions`, `GET /v1/push/vapid-public-key`: browsers
 *   subscribe to web push with the write key.
 */

const gif = Buffer.from(
  "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7",
  "base64",
);

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.5rem 1rem;margin-top:.5rem}fieldset{border:1px solid #ddd;margin:1rem 0;padding:1rem}label{display:block;margin:.3rem 0}</style></head><body>${body}</body></html>`;
}

/** Registers the public tracking, unsubscribe and push-subscription routes. */
export async function registerTrackingRoutes(
  app: App,
  deps: HttpDeps,
): Promise<void> {
  const { db, clock } = deps;
  const secrets = deps.messaging.secrets;

  /** The genuine token's content and its message, or undefined. */
  async function open(
    token: string,
    kind: TokenKind,
  ): Promise<{ t: LinkToken; row: MessageRow } | undefined> {
    const parsed = parseToken(token);
    if (parsed?.kind !== kind) return undefined;
    if (!(await secrets.loadIfMade(parsed.workspaceId))) return undefined;
    const t = verifyToken(token, secrets.sign);
    if (!t) return undefined;
    const row = await getMessageRow(db, t.workspaceId, t.messageId);
    return row ? { t, row } : undefined;
  }

  const seen = (request: FastifyRequest) => ({
    ...(request.headers["user-agent"]
      ? { userAgent: request.headers["user-agent"] }
      : {}),
    ip: request.ip,
  });

  await app.register(async (scope: App) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_request, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    // Some one-click clients post with no or an odd content type: take the text.
    scope.addContentTypeParser(
      ["text/plain", "multipart/form-data"],
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_request, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    scope.get(
      "/t/o/:token",
      { schema: { hide: true, params: Type.Object({ token: Type.String() }) } },
      async (request, reply) => {
        const found = await open(request.params.token, "o").catch(
          () => undefined,
        );
        if (found) {
          const now = clock.now();
          const s = seen(request);
          const verdict = classifyInteraction({
            kind: "open",
            ...s,
            at: now,
            sentAt: found.row.sent_at,
          });
          await db.tx((tx) =>
            recordMessageNews(tx, {
              workspaceId: found.row.workspace_id,
              message: found.row.id,
              news: "opened",
              human: verdict.human,
              ...(verdict.reason ? { reason: verdict.reason } : {}),
              ...s,
              at: now,
            }),
          );
        }
        return reply
          .header("content-type", "image/gif")
          .header(
            "cache-control",
            "no-store, no-cache, must-revalidate, private",
          )
          .send(gif);
      },
    );

    scope.get(
      "/t/c/:token",
      { schema: { hide: true, params: Type.Object({ token: Type.String() }) } },
      async (request, reply) => {
        const found = await open(request.params.token, "c");
        const url = found?.row.links?.[found.t.link];
        if (!found || !url)
          return reply
            .status(404)
            .type("text/html; charset=utf-8")
            .send(
              page(
                "Link not found",
                "<h1>This link does not work</h1><p>It may have been copied incompletely.</p>",
              ),
            );
        const now = clock.now();
        const s = seen(request);
        const counts = await interactionCounts(
          db,
          found.row.workspace_id,
          found.row.id,
          new Date(now.getTime() - 2000),
        );
        const verdict = classifyInteraction({
          kind: "click",
          ...s,
          at: now,
          sentAt: found.row.sent_at,
          recentClicks: counts.recentClicks,
        });
        await db.tx((tx) =>
          recordMessageNews(tx, {
            workspaceId: found.row.workspace_id,
            message: found.row.id,
            news: "clicked",
            human: verdict.human,
            ...(verdict.reason ? { reason: verdict.reason } : {}),
            linkIndex: found.t.link,
            url,
            ...s,
            at: now,
          }),
        );
        return reply.header("cache-control", "no-store").redirect(url, 302);
      },
    );

    scope.get(
      "/u/:token",
      { schema: { hide: true, params: Type.Object({ token: Type.String() }) } },
      async (request, reply) => {
        const found = await open(request.params.token, "u");
        reply
          .type("text/html; charset=utf-8")
          .header("cache-control", "no-store");
        if (!found) return reply.status(404).send(brokenLinkPage());
        return reply.send(
          await preferencePage(db, deps, found.row, request.params.token),
        );
      },
    );

    scope.post(
      "/u/:token",
      {
        schema: {
          hide: true,
          params: Type.Object({ token: Type.String() }),
          body: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        },
      },
      async (request, reply) => {
        const found = await open(request.params.token, "u");
        const body = (request.body ?? {}) as Record<string, string | undefined>;
        if (!found) {
          return reply
            .status(404)
            .type("text/html; charset=utf-8")
            .send(brokenLinkPage());
        }
        const { row } = found;
        const now = clock.now();
        const settings = await deps.settings.get(row.workspace_id);
        const store = escapeHtml(settings.storeName ?? "this store");
        const oneClick = body["List-Unsubscribe"] === "One-Click";
        if (oneClick || body.action === "unsubscribe") {
          const result = await db.tx((tx) =>
            unsubscribeRecipient(
              tx,
              row,
              oneClick ? "one-click" : "unsubscribe page",
              now,
              seen(request),
            ),
          );
          if (oneClick)
            return reply.type("text/plain; charset=utf-8").send("unsubscribed");
          const what =
            result.scope === "list"
              ? `the list “${escapeHtml(result.listName ?? row.list_id ?? "")}”`
              : `marketing ${row.channel === "email" ? "email" : row.channel} from ${store}`;
          return reply
            .type("text/html; charset=utf-8")
            .send(
              page(
                "Unsubscribed",
                `<h1>You are unsubscribed</h1><p>You will get no more messages from ${what}. Changed your mind? <a href="${escapeHtml(`${deps.config.publicUrl}/u/${request.params.token}`)}">Manage your preferences</a>.</p>`,
              ),
            );
        }
        if (body.action === "preferences") {
          await savePreferences(db, row, body, now);
          return reply
            .type("text/html; charset=utf-8")
            .send(
              page(
                "Preferences saved",
                `<h1>Your preferences are saved</h1><p><a href="${escapeHtml(`${deps.config.publicUrl}/u/${request.params.token}`)}">Back to your preferences</a></p>`,
              ),
            );
        }
        return reply
          .status(400)
          .send(
            errorBody(
              "invalid",
              "post List-Unsubscribe=One-Click, or use the page's buttons",
              [{ path: "/body", message: "unknown action" }],
            ),
          );
      },
    );

    const PushSubscription = Type.Object({
      endpoint: Type.String({ pattern: "^https?://" }),
      keys: Type.Object({
        p256dh: Type.String({ minLength: 10 }),
        auth: Type.String({ minLength: 4 }),
      }),
    });

    scope.get(
      "/v1/push/vapid-public-key",
      {
        schema: {
          tags: ["push"],
          summary:
            "The VAPID public key browsers subscribe with (applicationServerKey); write key as ?writeKey=",
          querystring: Type.Object({ writeKey: Type.Optional(Type.String()) }),
        },
      },
      async (request, reply) => {
        cors(request, reply);
        const workspaceId = await writeKeyWorkspace(
          deps,
          request,
          request.query.writeKey,
        );
        return {
          publicKey: (await secrets.load(workspaceId)).vapid_public_key,
        };
      },
    );

    scope.post(
      "/v1/push/subscriptions",
      {
        schema: {
          tags: ["push"],
          summary:
            "Store a browser's push subscription (PushSubscription.toJSON()) for the shopper with this userId / anonymousId; write key by Basic auth or writeKey",
          body: Type.Object({
            writeKey: Type.Optional(Type.String()),
            userId: Type.Optional(Type.String({ minLength: 1 })),
            anonymousId: Type.Optional(Type.String({ minLength: 1 })),
            subscription: PushSubscription,
          }),
        },
      },
      async (request, reply) => {
        cors(request, reply);
        const body = request.body;
        const workspaceId = await writeKeyWorkspace(
          deps,
          request,
          body.writeKey,
        );
        if (!body.userId && !body.anonymousId)
          throw new DomainError(
            "invalid",
            "send the shopper's userId or anonymousId with the subscription",
            [
              {
                path: "/body/userId",
                message: "userId or anonymousId is required",
              },
            ],
          );
        const now = clock.now();
        await db.tx(async (tx) => {
          const event = {
            messageId: `herald-push-${uuidv7(now)}`,
            type: "track" as const,
            name: "Subscribed",
            userId: body.userId ?? null,
            anonymousId: body.anonymousId ?? null,
            properties: { channel: "push", source: "browser" },
            traits: null,
            context: request.headers["user-agent"]
              ? { userAgent: request.headers["user-agent"] }
              : {},
            timestamp: now,
            receivedAt: now,
            source: "herald" as const,
            silent: false,
          };
          const identifiers = [
            ...(body.userId
              ? [{ type: "user_id" as const, value: body.userId }]
              : []),
            ...(body.anonymousId
              ? [{ type: "anonymous_id" as const, value: body.anonymousId }]
              : []),
          ];
          await appendEvents(tx, workspaceId, [{ event, identifiers }], now);
          const owners = await findOwners(tx, workspaceId, identifiers);
          const profileId = identifiers
            .map((i) => owners.get(`${i.type}:${i.value}`))
            .find((p) => p !== undefined);
          if (!profileId)
            throw new Error("the subscriber's profile could not be found");
          await upsertPushSubscription(
            tx,
            workspaceId,
            {
              endpoint: body.subscription.endpoint,
              profile_id: profileId,
              p256dh: body.subscription.keys.p256dh,
              auth: body.subscription.keys.auth,
              user_agent: request.headers["user-agent"] ?? null,
            },
            now,
          );
          await setProfileConsent(tx, workspaceId, profileId, "push", {
            status: "subscribed",
            at: now.toISOString(),
            source: "Subscribed",
          });
          await reachabilityChanged(tx, workspaceId, {
            channel: "push",
            profileId,
            now,
          });
        });
        return reply.status(201).send({ success: true });
      },
    );

    scope.delete(
      "/v1/push/subscriptions",
      {
        schema: {
          tags: ["push"],
          summary:
            "Forget a browser's push subscription (the shopper turned notifications off)",
          body: Type.Object({
            writeKey: Type.Optional(Type.String()),
            endpoint: Type.String(),
          }),
        },
      },
      async (request, reply) => {
        cors(request, reply);
        const workspaceId = await writeKeyWorkspace(
          deps,
          request,
          request.body.writeKey,
        );
        await db.tx(async (tx) => {
          const profileId = await deletePushSubscription(
            tx,
            workspaceId,
            request.body.endpoint,
          );
          if (profileId)
            await reachabilityChanged(tx, workspaceId, {
              channel: "push",
              profileId,
              now: clock.now(),
            });
        });
        return reply.status(204).send();
      },
    );
  });
}

function cors(request: FastifyRequest, reply: FastifyReply): void {
  reply.header("access-control-allow-origin", request.headers.origin ?? "*");
  if (request.headers.origin) reply.header("vary", "Origin");
}

/** The workspace of the write key given by Basic auth or in the body / query. */
async function writeKeyWorkspace(
  deps: HttpDeps,
  request: FastifyRequest,
  given: string | undefined,
): Promise<string> {
  let key = given;
  const basic = /^Basic\s+(\S+)$/i.exec(request.headers.authorization ?? "");
  if (!key && basic?.[1])
    key = Buffer.from(basic[1], "base64").toString().split(":")[0];
  if (!key)
    throw new DomainError(
      "unauthorized",
      "missing write key: send Authorization: Basic base64(<write key>:) or writeKey",
    );
  const stored = await deps.keys.resolve(key);
  if (!stored || stored.revokedAt || stored.kind !== "write")
    throw new DomainError(
      "unauthorized",
      stored?.revokedAt ? "this write key was revoked" : "unknown write key",
    );
  return stored.workspaceId;
}

function brokenLinkPage(): string {
  return page(
    "Link not found",
    "<h1>This link does not work</h1><p>It may have been copied incompletely. Use the unsubscribe link of a more recent message, or reply to it and ask to be removed.</p>",
  );
}

/** The confirmation page and preference centre of a message's recipient. */
async function preferencePage(
  db: Database,
  deps: HttpDeps,
  row: MessageRow,
  token: string,
): Promise<string> {
  const settings = await deps.settings.get(row.workspace_id);
  const store = escapeHtml(settings.storeName ?? "this store");
  const profile = await getProfileRow(db, row.workspace_id, row.profile_id);
  const lists = (await listLists(db, row.workspace_id)).filter((l) => l.public);
  const statuses = await listStatusesOf(db, row.workspace_id, row.profile_id);
  const unsubscribedAll = profile?.consent.email?.status === "unsubscribed";
  const address = escapeHtml(row.recipient ?? profile?.email ?? "your address");
  const action = escapeHtml(`${deps.config.publicUrl}/u/${token}`);
  const listName = row.list_id
    ? (lists.find((l) => l.id === row.list_id)?.name ?? row.list_id)
    : undefined;
  const what = listName
    ? `the list “${escapeHtml(listName)}”`
    : `marketing email from ${store}`;
  const listBoxes = lists
    .map(
      (l) =>
        `<label><input type="checkbox" name="list_${escapeHtml(l.id)}" value="on"${statuses.get(l.id) === "subscribed" ? " checked" : ""}> ${escapeHtml(l.name)}${l.description ? ` — <small>${escapeHtml(l.description)}</small>` : ""}</label><input type="hidden" name="shown_${escapeHtml(l.id)}" value="1">`,
    )
    .join("");
  return page(
    "Unsubscribe",
    `<h1>Unsubscribe ${address}?</h1>
<p>Nothing changes until you choose below.</p>
<form method="post" action="${action}"><input type="hidden" name="action" value="unsubscribe"><button type="submit">Unsubscribe from ${what}</button></form>
<h2>Or choose what you get</h2>
<form method="post" action="${action}"><input type="hidden" name="action" value="preferences">
${lists.length ? `<fieldset><legend>Topics</legend>${listBoxes}</fieldset>` : ""}
<fieldset><legend>Take a break</legend>
<label><input type="radio" name="pause" value="0" checked> Keep sending</label>
<label><input type="radio" name="pause" value="30"> Pause for 30 days</label>
<label><input type="radio" name="pause" value="90"> Pause for 90 days</label></fieldset>
<fieldset><legend>Everything</legend><label><input type="checkbox" name="all" value="unsubscribe"${unsubscribedAll ? " checked" : ""}> Unsubscribe from all marketing email from ${store}</label></fieldset>
<button type="submit">Save preferences</button></form>`,
  );
}

/** Applies the preference centre's form: lists, pause, all. */
async function savePreferences(
  db: Database,
  row: MessageRow,
  body: Record<string, string | undefined>,
  now: Date,
): Promise<void> {
  const ws = row.workspace_id;
  const lists = (await listLists(db, ws)).filter((l) => l.public);
  const statuses = await listStatusesOf(db, ws, row.profile_id);
  const profile = await getProfileRow(db, ws, row.profile_id);
  await db.tx(async (tx) => {
    for (const list of lists) {
      if (body[`shown_${list.id}`] !== "1") continue;
      const wanted = body[`list_${list.id}`] === "on";
      const current = statuses.get(list.id);
      if (wanted && current !== "subscribed")
        await setListStatus(tx, ws, list.id, {
          profileIds: [row.profile_id],
          status: "subscribed",
          source: "preference centre",
          at: now,
        });
      if (!wanted && current === "subscribed")
        await setListStatus(tx, ws, list.id, {
          profileIds: [row.profile_id],
          status: "unsubscribed",
          source: "preference centre",
          at: now,
        });
    }
    const days = Number(body.pause ?? "0");
    if (days > 0)
      await setPreferencePause(
        tx,
        ws,
        row.profile_id,
        new Date(now.getTime() + Math.min(days, 365) * 86_400_000),
      );
    else await setPreferencePause(tx, ws, row.profile_id, null);
    const current = profile?.consent.email?.status;
    if (body.all === "unsubscribe" && current !== "unsubscribed")
      await changeConsent(
        tx,
        ws,
        row.profile_id,
        "email",
        "unsubscribed",
        "preference centre",
        now,
        { email_id: row.id },
      );
    if (body.all !== "unsubscribe" && current === "unsubscribed")
      await changeConsent(
        tx,
        ws,
        row.profile_id,
        "email",
        "subscribed",
        "preference centre",
        now,
        { email_id: row.id },
      );
  });
}
