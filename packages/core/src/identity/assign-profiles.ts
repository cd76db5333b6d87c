import { identifierKey, type Identifier } from "./identifiers.ts";

/**
 * Ingest's first, cheap guess at each event's profile, made inside the ingest transaction:
 * the owner of the strongest identifier already known, or a new profile that takes all of
 * the event's identifiers. Linking further identifiers and merging profiles is the event
 * processor's job (resolve-identity.ts); ingest never merges.
 */

/** What ingest must write for a batch: each event's profile, new profiles and their identifiers. */
export interface AssignmentPlan {
  profileIds: string[];
  newProfiles: string[];
  newIdentities: (Identifier & { profileId: string })[];
}

/**
 * Assigns a profile to each event, in order, so that a later event of the batch sees the
 * profile an earlier one created. `owners` maps `type:value` to known profile ids.
 */
export function assignProfiles(
  events: Identifier[][],
  owners: ReadonlyMap<string, string>,
  newProfileId: () => string,
): AssignmentPlan {
  const known = new Map(owners);
  const plan: AssignmentPlan = {
    profileIds: [],
    newProfiles: [],
    newIdentities: [],
  };
  for (const identifiers of events) {
    const owner = identifiers
      .map((id) => known.get(identifierKey(id)))
      .find((id) => id !== undefined);
    if (owner) {
      plan.profileIds.push(owner);
      continue;
    }
    const profileId = newProfileId();
    plan.newProfiles.push(profileId);
    plan.profileIds.push(profileId);
    for (const id of identifiers) {
      known.set(identifierKey(id), profileId);
      plan.newIdentities.push({ ...id, profileId });
    }
  }
  return plan;
}
