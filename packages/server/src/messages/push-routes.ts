import type { FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { DomainError } from "@herald/core/domain-error";
import type { App, HttpDeps } from "../http/http-deps.ts";
import {
  getVapidPublicKey,
  PushSubscription,
  subscribePush,
  unsubscribePush,
} from "./push-subscriptions.ts";

/**
 * Browsers subscribing to web push from the storefront, with the write key (Basic auth,
 * or `writeKey` in the body or query): the VAPID public key, subscribing, unsubscribing.
 * Answers carry CORS headers for the store's origin.
 */

const PushSubscribe = Type.Object({
  writeKey: Type.Optional(Type.String()),
  userId: Type.Optional(Type.String({ minLength: 1 })),
  anonymousId: Type.Optional(Type.String({ minLength: 1 })),
  subscription: PushSubscription,
});

const PushUnsubscribe = Type.Object({
  writeKey: Type.Optional(Type.String()),
  endpoint: Type.String(),
});

/** Registers the web push subscription routes (in the tracking routes' scope). */
export function registerPushRoutes(scope: App, deps: HttpDeps): void {
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
      return { publicKey: await getVapidPublicKey(deps, workspaceId) };
    },
  );

  scope.post(
    "/v1/push/subscriptions",
    {
      schema: {
        tags: ["push"],
        summary:
          "Store a browser's push subscription (PushSubscription.toJSON()) for the shopper with this userId / anonymousId; write key by Basic auth or writeKey",
        body: PushSubscribe,
      },
    },
    async (request, reply) => {
      cors(request, reply);
      const body = request.body;
      const workspaceId = await writeKeyWorkspace(deps, request, body.writeKey);
      await subscribePush(deps, workspaceId, {
        userId: body.userId,
        anonymousId: body.anonymousId,
        subscription: body.subscription,
        userAgent: request.headers["user-agent"],
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
        body: PushUnsubscribe,
      },
    },
    async (request, reply) => {
      cors(request, reply);
      const workspaceId = await writeKeyWorkspace(
        deps,
        request,
        request.body.writeKey,
      );
      await unsubscribePush(deps, workspaceId, request.body.endpoint);
      return reply.status(204).send();
    },
  );
}

/** Lets the store's pages call these routes from the browser. */
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
