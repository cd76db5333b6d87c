import type { List, ListStatus } from "@herald/core/lists/lists";

/**
 * The pages a shopper's browser gets from an unsubscribe link: the confirmation and
 * preference centre (`GET /u/<token>`), what a form did, and a link that does not work.
 * Plain HTML, every value escaped; no script.
 */

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** A page with Herald's minimal style; `body` is HTML already escaped. */
function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.5rem 1rem;margin-top:.5rem}fieldset{border:1px solid #ddd;margin:1rem 0;padding:1rem}label{display:block;margin:.3rem 0}</style></head><body>${body}</body></html>`;
}

/** The page of a tracking or unsubscribe link that does not work, saying why (text). */
export function linkNotFoundPage(why: string): string {
  return page(
    "Link not found",
    `<h1>This link does not work</h1><p>${escapeHtml(why)}</p>`,
  );
}

/** What the preference centre shows a message's recipient. */
export interface Preferences {
  storeName: string | undefined;
  /** The address the message went to. */
  address: string;
  /** The list the message went to, if it went to one (its name, else its id). */
  listName: string | undefined;
  /** The workspace's public lists and the recipient's standing on each. */
  lists: List[];
  statuses: Map<string, ListStatus>;
  unsubscribedAll: boolean;
  /** Where the page's forms post (the unsubscribe link itself). */
  action: string;
}

/** The confirmation page and preference centre of a message's recipient. */
export function preferencePage(p: Preferences): string {
  const store = escapeHtml(p.storeName ?? "this store");
  const address = escapeHtml(p.address);
  const action = escapeHtml(p.action);
  const what = p.listName
    ? `the list “${escapeHtml(p.listName)}”`
    : `marketing email from ${store}`;
  const listBoxes = p.lists
    .map(
      (l) =>
        `<label><input type="checkbox" name="list_${escapeHtml(l.id)}" value="on"${p.statuses.get(l.id) === "subscribed" ? " checked" : ""}> ${escapeHtml(l.name)}${l.description ? ` — <small>${escapeHtml(l.description)}</small>` : ""}</label><input type="hidden" name="shown_${escapeHtml(l.id)}" value="1">`,
    )
    .join("");
  return page(
    "Unsubscribe",
    `<h1>Unsubscribe ${address}?</h1>
<p>Nothing changes until you choose below.</p>
<form method="post" action="${action}"><input type="hidden" name="action" value="unsubscribe"><button type="submit">Unsubscribe from ${what}</button></form>
<h2>Or choose what you get</h2>
<form method="post" action="${action}"><input type="hidden" name="action" value="preferences">
${p.lists.length ? `<fieldset><legend>Topics</legend>${listBoxes}</fieldset>` : ""}
<fieldset><legend>Take a break</legend>
<label><input type="radio" name="pause" value="0" checked> Keep sending</label>
<label><input type="radio" name="pause" value="30"> Pause for 30 days</label>
<label><input type="radio" name="pause" value="90"> Pause for 90 days</label></fieldset>
<fieldset><legend>Everything</legend><label><input type="checkbox" name="all" value="unsubscribe"${p.unsubscribedAll ? " checked" : ""}> Unsubscribe from all marketing email from ${store}</label></fieldset>
<button type="submit">Save preferences</button></form>`,
  );
}

/** What the unsubscribe button did, for its page. */
export interface Unsubscribed {
  storeName: string | undefined;
  /** From the message's list (its name, else its id), else from the channel's marketing. */
  listName: string | undefined;
  channel: string;
  /** The preference centre, to change one's mind. */
  preferencesUrl: string;
}

/** The page after the unsubscribe button. */
export function unsubscribedPage(u: Unsubscribed): string {
  const store = escapeHtml(u.storeName ?? "this store");
  const what =
    u.listName !== undefined
      ? `the list “${escapeHtml(u.listName)}”`
      : `marketing ${u.channel === "email" ? "email" : u.channel} from ${store}`;
  return page(
    "Unsubscribed",
    `<h1>You are unsubscribed</h1><p>You will get no more messages from ${what}. Changed your mind? <a href="${escapeHtml(u.preferencesUrl)}">Manage your preferences</a>.</p>`,
  );
}

/** The page after the preference centre's form was saved. */
export function preferencesSavedPage(preferencesUrl: string): string {
  return page(
    "Preferences saved",
    `<h1>Your preferences are saved</h1><p><a href="${escapeHtml(preferencesUrl)}">Back to your preferences</a></p>`,
  );
}
