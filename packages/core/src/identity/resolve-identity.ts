import {
  byPriority,
  identifierKey,
  identifierRules,
  type Identifier,
  type IdentifierType,
} from "./identifiers.ts";

/**
 * Identity resolution for one event, as the event processor applies it (Segment Unify's
 * flat matching): the profiles that own the event's identifiers merge into one when the
 * union of their identifiers stays within every type's limit; otherwise the event's
 * weakest identifier is dropped and matching is tried again. So two different user ids
 * never merge, and a shared device or a shared email cannot collapse many shoppers.
 *
 * Survivor: the profile holding a user id, else the oldest. Cart and checkout tokens find
 * a profile when nothing else does, and never merge two.
 */

/** What the resolver knows of a profile. */
export interface ProfileIdentities {
  id: string;
  createdAt: Date;
  identifiers: Identifier[];
}

/** The decision for one event. */
export interface IdentityDecision {
  /** The profile the event belongs to; null when a new profile must be made for it. */
  profileId: string | null;
  /** Profiles to merge into `profileId`. */
  merge: string[];
  /** Unowned identifiers of the event to point at `profileId`. */
  link: Identifier[];
  /** Identifiers left where they are because taking them would break a limit. */
  dropped: Identifier[];
}

function withinLimits(sets: Identifier[][]): boolean {
  const values = new Map<IdentifierType, Set<string>>();
  for (const id of sets.flat()) {
    const set = values.get(id.type) ?? new Set<string>();
    set.add(id.value);
    values.set(id.type, set);
  }
  return [...values].every(
    ([type, set]) => set.size <= identifierRules[type].limit,
  );
}

/**
 * Decides where an event with `identifiers` belongs. `owners` maps `type:value` to the
 * owning profile; `profiles` describes every owner.
 */
export function resolveIdentity(
  identifiers: readonly Identifier[],
  owners: ReadonlyMap<string, string>,
  profiles: ReadonlyMap<string, ProfileIdentities>,
): IdentityDecision {
  const ownerOf = (id: Identifier) => owners.get(identifierKey(id));
  let candidates = identifiers
    .filter((id) => identifierRules[id.type].merges)
    .sort(byPriority);
  const tokens = identifiers.filter((id) => !identifierRules[id.type].merges);
  const dropped: Identifier[] = [];

  let owned: string[] = [];
  for (;;) {
    owned = [
      ...new Set(candidates.map(ownerOf).filter((id) => id !== undefined)),
    ];
    const sets = [
      candidates,
      ...owned.map((id) => profiles.get(id)?.identifiers ?? []),
    ];
    if (candidates.length === 0 || withinLimits(sets)) break;
    const weakest = candidates.at(-1);
    if (weakest) dropped.push(weakest);
    candidates = candidates.slice(0, -1);
  }

  let profileId: string | null = null;
  if (owned.length > 0) {
    const ranked = owned
      .map((id) => profiles.get(id))
      .filter((p) => p !== undefined)
      .sort(
        (a, b) =>
          Number(b.identifiers.some((i) => i.type === "user_id")) -
            Number(a.identifiers.some((i) => i.type === "user_id")) ||
          a.createdAt.getTime() - b.createdAt.getTime() ||
          a.id.localeCompare(b.id),
      );
    profileId = ranked[0]?.id ?? owned[0] ?? null;
  } else if (candidates.length === 0) {
    // Only tokens (a webhook checkout without a customer): the token's owner, if any.
    profileId = tokens.map(ownerOf).find((id) => id !== undefined) ?? null;
  }

  return {
    profileId,
    merge: owned.filter((id) => id !== profileId),
    link: [...candidates, ...tokens].filter((id) => ownerOf(id) === undefined),
    dropped,
  };
}
