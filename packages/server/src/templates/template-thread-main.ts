import { parentPort } from "node:worker_threads";
import type { IssuedCoupon } from "@herald/core/coupons/coupons";
import type { ErrorDetail } from "@herald/core/domain-error";
import type {
  ProductItem,
  ProductQuery,
} from "@herald/core/recommendations/recommendations";
import { compileContent } from "./compile.ts";
import {
  formatsOf,
  parseCompiled,
  renderContent,
  renderScope,
  type ParsedContent,
} from "./render.ts";
import {
  fromThreadError,
  toThreadError,
  type RenderJob,
  type ThreadReply,
  type ThreadRequest,
} from "./template-threads.ts";

/**
 * A template thread (see `template-threads.ts`): compiles versions and renders messages,
 * one job at a time, keeping recently used versions parsed. Product and coupon lookups
 * are asked of the main thread.
 */

const port = parentPort;
if (!port)
  throw new Error("template-thread-main.ts runs only as a worker thread");

const cacheSize = 200;
const parsed = new Map<string, ParsedContent>();
const answers = new Map<
  number,
  { resolve(value: unknown): void; reject(error: Error): void }
>();
let nextCall = 1;

const send = (reply: ThreadReply) => port.postMessage(reply);

function parsedOf(job: RenderJob): ParsedContent {
  let found = parsed.get(job.key);
  if (!found) {
    found = parseCompiled(job.compiled);
    if (parsed.size >= cacheSize) {
      const oldest = parsed.keys().next().value;
      if (oldest !== undefined) parsed.delete(oldest);
    }
    parsed.set(job.key, found);
  }
  return found;
}

function ask(id: number, name: "products" | "coupon", arg: unknown) {
  const call = nextCall++;
  return new Promise<unknown>((resolve, reject) => {
    answers.set(call, { resolve, reject });
    send({ op: "call", id, call, name, arg });
  });
}

async function render(id: number, job: RenderJob) {
  const { scope } = job;
  const services = {
    ...formatsOf(scope),
    now: scope.now,
    products: (query: ProductQuery) =>
      ask(id, "products", query) as Promise<ProductItem[]>,
    coupon: (poolId: string) =>
      ask(id, "coupon", poolId) as Promise<IssuedCoupon>,
  };
  const warnings: ErrorDetail[] = [];
  const content = await renderContent(
    parsedOf(job),
    renderScope(scope, services),
    warnings,
  );
  return { content, warnings };
}

port.on("message", (request: ThreadRequest) => {
  if (request.op === "answer") {
    const waiting = answers.get(request.call);
    answers.delete(request.call);
    if (request.error) waiting?.reject(fromThreadError(request.error));
    else waiting?.resolve(request.value);
    return;
  }
  const work =
    request.op === "compile"
      ? compileContent(request.template, request.partials)
      : render(request.id, request.job);
  work.then(
    (value) => send({ op: "done", id: request.id, value }),
    (error: unknown) =>
      send({ op: "failed", id: request.id, error: toThreadError(error) }),
  );
});

send({ op: "ready" });
