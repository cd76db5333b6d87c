import Type from "typebox";
import { DomainError } from "../domain-error.ts";
import { messagingSettingsProperties } from "../messages/settings.ts";

/**
 * A workspace's settings: how its store's data reads (phone region, currency, time zone)
 * and, as later features add them, its sending policy. Stored as JSON on the workspace.
 */
export const WorkspaceSettings = Type.Object(
  {
    defaultPhoneRegion: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{2}$",
        description: "ISO 3166 country used to read national phone numbers",
      }),
    ),
    currency: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{3}$",
        description: "ISO 4217 store currency",
      }),
    ),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, description: "IANA time zone of the store" }),
    ),
    locale: Type.Optional(
      Type.String({
        minLength: 2,
        description: "BCP 47 locale of the store, such as en-US",
      }),
    ),
    storeName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          "The store's name, as emails and pages show it (library flows need it)",
      }),
    ),
    storeUrl: Type.Optional(
      Type.String({
        pattern: "^https?://",
        description:
          "The store's address, https://…: the buttons and links of library emails lead there (library flows need it)",
      }),
    ),
    teamEmail: Type.Optional(
      Type.String({
        pattern: "^[^\\s@]+@[^\\s@]+$",
        description:
          'where flows\' team notifications go (notify nodes sent to "team")',
      }),
    ),
    ...messagingSettingsProperties,
  },
  { additionalProperties: false },
);
export type WorkspaceSettings = Type.Static<typeof WorkspaceSettings>;

/** The names of the settings a workspace can have. */
export const settingNames = Object.keys(WorkspaceSettings.properties);

/**
 * Refuses a change that names a setting that does not exist (a typo would otherwise be
 * stored and silently do nothing), listing the ones that do.
 */
export function refuseUnknownSettings(
  change: Record<string, unknown>,
  path: string,
): void {
  const unknown = Object.keys(change).filter(
    (key) => !settingNames.includes(key),
  );
  if (unknown.length === 0) return;
  throw new DomainError(
    "invalid",
    `unknown setting${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; the settings are: ${settingNames.join(", ")}`,
    unknown.map((key) => ({
      path: `${path}/${key}`,
      message: "not a setting",
    })),
  );
}
